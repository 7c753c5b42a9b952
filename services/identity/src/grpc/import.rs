//! ImportProfiles: a stream of CRM records applied in batches, with counts at the end.
//!
//! Records are validated one by one as they arrive (a bad one is counted and listed, never
//! the stream's end), gathered into batches of the store's
//! [`IMPORT_BATCH`](IdentityStore::IMPORT_BATCH) records and committed one transaction a
//! batch. While a batch commits, the next one is read, so the network and the store work at
//! the same time; at most two batches are held. A stream stopped half-way (the client gave
//! up, the process is stopping, the store failed) keeps what committed, and the status says
//! how much that was.

use baton_proto::v1::{
    ImportError, ImportProfilesRequest, ImportProfilesResponse, ProfileRecord, ResolveDecision,
    UpsertProfileResponse, UpsertResult,
};
use baton_runtime::shutdown::Shutdown;
use tonic::{Status, Streaming};

use super::validate;
use crate::{domain::Identity, store::IdentityStore};

/// Refused records listed in the answer; the rest are counted.
pub const MAX_LISTED_ERRORS: usize = 1_000;

/// Why reading the stream stopped before its end.
enum Stop {
    /// The client's fault or the transport's: this status, as is.
    Status(Status),
    /// The process is stopping.
    Shutdown,
}

/// The stream side: reads messages, validates records, hands out batches.
struct Reader<'a> {
    /// The client's messages.
    stream: Streaming<ImportProfilesRequest>,
    /// The caller's tenant, settled by the first message.
    tenant: &'a str,
    /// Where phone numbers without a country code are read.
    region: &'a str,
    /// The process stop signal.
    shutdown: &'a Shutdown,
    /// Records a batch holds: the store's [`IdentityStore::IMPORT_BATCH`].
    batch: usize,
    /// Valid records not yet handed out, with their stream positions.
    pending: Vec<(u64, ProfileRecord)>,
    /// Records received so far.
    received: u64,
    /// Records refused by validation since the last look.
    refused: Vec<ImportError>,
    /// Whether the stream has ended.
    ended: bool,
}

impl Reader<'_> {
    /// The next batch of up to `batch` valid records; empty once the stream is done.
    async fn next_batch(&mut self) -> Result<Vec<(u64, ProfileRecord)>, Stop> {
        while !self.ended && self.pending.len() < self.batch {
            let message = tokio::select! {
                biased;
                () = self.shutdown.triggered() => return Err(Stop::Shutdown),
                message = self.stream.message() => message.map_err(Stop::Status)?,
            };
            match message {
                Some(message) => self.take(message)?,
                None => self.ended = true,
            }
        }
        let n = self.pending.len().min(self.batch);
        Ok(self.pending.drain(..n).collect())
    }

    /// Validates one message's records.
    fn take(&mut self, message: ImportProfilesRequest) -> Result<(), Stop> {
        if !message.tenant_id.is_empty() && message.tenant_id != self.tenant {
            return Err(Stop::Status(Status::invalid_argument(format!(
                "tenant_id changed after record {}: an import stream is for one tenant",
                self.received
            ))));
        }
        validate::import_message(self.tenant, message.records.len()).map_err(Stop::Status)?;
        for record in message.records {
            let index = self.received;
            self.received += 1;
            match validate::profile_record(record, "", self.region) {
                Ok(record) => self.pending.push((index, record)),
                Err((external_id, error)) => self.refused.push(ImportError {
                    index,
                    external_id,
                    error,
                }),
            }
        }
        Ok(())
    }
}

/// The counts so far.
#[derive(Default)]
struct Tally {
    /// The answer being built (`received` is filled at the end).
    answer: ImportProfilesResponse,
    /// Refused records, kept in stream order up to [`MAX_LISTED_ERRORS`] (trimmed lazily:
    /// the reader runs one batch ahead, so refusals arrive slightly out of order).
    errors: Vec<ImportError>,
}

impl Tally {
    fn refuse(&mut self, error: ImportError) {
        self.answer.rejected += 1;
        self.errors.push(error);
        if self.errors.len() >= 2 * MAX_LISTED_ERRORS {
            self.trim();
        }
    }

    fn trim(&mut self) {
        self.errors.sort_by_key(|e| e.index);
        let extra = self.errors.len().saturating_sub(MAX_LISTED_ERRORS);
        self.errors.truncate(MAX_LISTED_ERRORS);
        self.answer.errors_omitted += extra as u64;
    }

    /// Counts one committed batch: `indices` are the stream positions of its records.
    fn committed(&mut self, indices: &[u64], response: UpsertProfileResponse) {
        for (&index, result) in indices.iter().zip(response.results) {
            self.count(index, result);
        }
    }

    fn count(&mut self, index: u64, result: UpsertResult) {
        if !result.error.is_empty() {
            self.refuse(ImportError {
                index,
                external_id: result.external_id,
                error: result.error,
            });
            return;
        }
        let a = &mut self.answer;
        match ResolveDecision::try_from(result.decision) {
            Ok(ResolveDecision::Ambiguous) => a.ambiguous += 1,
            Ok(ResolveDecision::New) => a.created += 1,
            Ok(ResolveDecision::Matched) => a.matched += 1,
            // A domain that does not say how it placed the record still says whether it
            // created a customer.
            _ if result.created => a.created += 1,
            _ => a.matched += 1,
        }
        if result.unchanged {
            a.unchanged += 1;
        }
    }

    /// Records applied so far.
    fn applied(&self) -> u64 {
        self.answer.matched + self.answer.created + self.answer.ambiguous
    }

    fn finish(mut self, received: u64) -> ImportProfilesResponse {
        self.trim();
        self.answer.received = received;
        self.answer.errors = self.errors;
        self.answer
    }
}

/// `status` with what committed before it appended, so the caller knows where it stands.
fn stopped(status: Status, committed: u64) -> Status {
    Status::new(
        status.code(),
        format!(
            "{}; {committed} records were committed before the import stopped and stay committed",
            status.message()
        ),
    )
}

/// Runs one import for `tenant` to its end, or to the first reason to stop: `first` is the
/// stream's first message (already read to learn the tenant), `stream` the rest.
pub async fn run<S: IdentityStore>(
    identity: &Identity<S>,
    shutdown: &Shutdown,
    tenant: &str,
    region: &str,
    first: ImportProfilesRequest,
    stream: Streaming<ImportProfilesRequest>,
) -> Result<ImportProfilesResponse, Status> {
    let mut reader = Reader {
        stream,
        tenant,
        region,
        shutdown,
        batch: S::IMPORT_BATCH,
        pending: Vec::new(),
        received: 0,
        refused: Vec::new(),
        ended: false,
    };
    let mut tally = Tally::default();
    let mut next = match reader.take(first) {
        Ok(()) => reader.next_batch().await,
        Err(stop) => Err(stop),
    };
    loop {
        for error in reader.refused.drain(..) {
            tally.refuse(error);
        }
        let batch = match next {
            Ok(batch) if batch.is_empty() => break,
            Ok(batch) => batch,
            Err(stop) => return Err(stop_status(stop, tally.applied())),
        };
        let (indices, records): (Vec<u64>, Vec<ProfileRecord>) = batch.into_iter().unzip();
        // Commit this batch while the next one is read.
        let (committed, read) = tokio::join!(identity.import(tenant, records), reader.next_batch());
        match committed {
            Ok(response) => tally.committed(&indices, response),
            Err(err) => return Err(stopped(Status::from(err), tally.applied())),
        }
        next = read;
    }
    let answer = tally.finish(reader.received);
    tracing::info!(
        received = answer.received,
        matched = answer.matched,
        created = answer.created,
        ambiguous = answer.ambiguous,
        unchanged = answer.unchanged,
        rejected = answer.rejected,
        "profiles imported"
    );
    Ok(answer)
}

fn stop_status(stop: Stop, committed: u64) -> Status {
    match stop {
        Stop::Status(status) => stopped(status, committed),
        Stop::Shutdown => stopped(
            Status::unavailable("the identity service is stopping; send the rest again"),
            committed,
        ),
    }
}
