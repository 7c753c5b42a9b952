//! `baton import profiles FILE.csv`: a CRM export into IdentityService over ImportProfiles.
//!
//! A blocking task reads the file and turns rows into records ([`columns`], [`dates`]); the
//! async side streams them to the service in messages of `--batch` records. A row that
//! cannot be read is reported with its line and skipped. The server bounds every call by its
//! request timeout, so a large file goes as several streams of a few seconds each, their
//! counts added up; the index of a refused record in its stream finds its line again.

pub mod columns;
pub mod content;
pub mod dates;
mod progress;

use std::{
    fs::File,
    io::Write,
    path::PathBuf,
    time::{Duration, Instant},
};

use baton_auth::Role;
use baton_proto::v1::{ImportProfilesRequest, ImportProfilesResponse};
use clap::Args;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use self::{
    columns::{Columns, Override, RowRules},
    dates::DateOrder,
    progress::Progress,
};
use crate::client::{self, ClientArgs};

/// How long one stream is fed before it is closed and the next one opened: well within the
/// server's default request timeout (10 s), which bounds a whole stream.
const STREAM_FOR: Duration = Duration::from_secs(4);
/// Longest a stream's answer is awaited after it is closed.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// `baton import profiles`.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The CSV file, with a header row.
    pub file: PathBuf,
    /// The tenant the profiles belong to.
    #[arg(long)]
    pub tenant: String,
    /// The source system's name, recorded with each external id ("legacy-crm").
    #[arg(long)]
    pub source: String,
    /// Which column holds a field, `field=header` (repeat; overrides the recognised headers).
    #[arg(long = "column", value_parser = columns::parse_override)]
    pub columns: Vec<Override>,
    /// How dates such as 03/04/1990 are read.
    #[arg(long, value_enum, default_value_t = DateOrder::DayFirst)]
    pub date_order: DateOrder,
    /// The region phone numbers without a country code are read in (ISO 3166-1 alpha-2);
    /// unset, the tenant's configured region.
    #[arg(long, value_parser = parse_region)]
    pub default_region: Option<String>,
    /// Records per message.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u16).range(1..=500))]
    pub batch: u16,
    /// Where the service is.
    #[command(flatten)]
    pub client: ClientArgs,
}

fn parse_region(code: &str) -> Result<String, String> {
    baton_identity::grpc::regions::region(code).map_err(|e| e.to_string())
}

/// One row that did not go in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Its line in the file (1 is the header).
    pub line: u64,
    /// Its external id, when it was read.
    pub external_id: String,
    /// Why.
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The service's counts, added over the streams.
    pub counts: ImportProfilesResponse,
    /// Rows the service refused or that could not be read, in file order.
    pub refused: Vec<Refusal>,
    /// Refused rows beyond those the service listed.
    pub omitted: u64,
    /// Rows that could not be read (listed in `refused` too).
    pub unreadable: u64,
}

impl Outcome {
    /// Whether every row went in.
    pub fn clean(&self) -> bool {
        self.refused.is_empty() && self.omitted == 0
    }

    /// The summary an operator reads.
    pub fn print(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let c = &self.counts;
        writeln!(out, "received  {}", c.received)?;
        writeln!(out, "matched   {}", c.matched)?;
        writeln!(out, "created   {}", c.created)?;
        writeln!(out, "ambiguous {}", c.ambiguous)?;
        writeln!(out, "unchanged {}", c.unchanged)?;
        writeln!(out, "rejected  {}", c.rejected)?;
        if self.unreadable > 0 {
            writeln!(out, "unreadable {}", self.unreadable)?;
        }
        for r in &self.refused {
            if r.external_id.is_empty() {
                writeln!(out, "line {}: {}", r.line, r.reason)?;
            } else {
                writeln!(
                    out,
                    "line {} (external id {}): {}",
                    r.line, r.external_id, r.reason
                )?;
            }
        }
        if self.omitted > 0 {
            writeln!(out, "... and {} more refused rows", self.omitted)?;
        }
        Ok(())
    }
}

/// One message's worth of rows, as the reading task hands them over.
struct Chunk {
    /// The message to send (no tenant yet).
    message: ImportProfilesRequest,
    /// Line and external id of each record in it.
    rows: Vec<(u64, String)>,
    /// Rows that could not be read since the previous chunk.
    unreadable: Vec<Refusal>,
    /// How far into the file the reader is, in bytes.
    position: u64,
    /// Rows read since the previous chunk.
    read: u64,
}

/// Runs `baton import profiles`; the summary goes to `out`, progress to stderr.
pub async fn run(args: &ImportArgs, out: &mut dyn Write) -> Result<Outcome, String> {
    let file = File::open(&args.file).map_err(|e| format!("{}: {e}", args.file.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .trim(csv::Trim::None)
        .from_reader(file);
    let headers = reader
        .headers()
        .map_err(|e| format!("{}: cannot read the header row: {e}", args.file.display()))?
        .clone();
    let columns = Columns::new(&headers, &args.columns)?;
    eprintln!("columns: {}", columns.describe(&headers));
    let rules = RowRules {
        source: args.source.clone(),
        date_order: args.date_order,
        default_region: args.default_region.clone().unwrap_or_default(),
        today: dates::today(),
    };
    let client = client::identity(&args.client, &args.tenant, Role::Admin, CALL_TIMEOUT).await?;
    let (tx, rx) = mpsc::channel(4);
    let batch = usize::from(args.batch);
    let reading =
        tokio::task::spawn_blocking(move || read_rows(reader, &columns, &rules, batch, &tx));
    let outcome = send(client, &args.tenant, rx, Progress::new(size)).await;
    // The reader stops by itself once nobody receives.
    let _ = reading.await;
    let outcome = outcome?;
    outcome.print(out).map_err(|e| format!("output: {e}"))?;
    Ok(outcome)
}

/// Reads every row, handing over chunks of `batch` records; stops early when the receiver
/// is gone.
fn read_rows(
    mut reader: csv::Reader<File>,
    columns: &Columns,
    rules: &RowRules,
    batch: usize,
    tx: &mpsc::Sender<Chunk>,
) {
    let empty = || Chunk {
        message: ImportProfilesRequest::default(),
        rows: Vec::new(),
        unreadable: Vec::new(),
        position: 0,
        read: 0,
    };
    let mut chunk = empty();
    let mut row = csv::StringRecord::new();
    loop {
        let line = reader.position().line();
        match reader.read_record(&mut row) {
            Ok(false) => break,
            Ok(true) => {
                chunk.read += 1;
                // The row's own first line (a quoted field may span several).
                let line = row.position().map_or(line, csv::Position::line);
                match columns::record(columns, rules, &row) {
                    Ok(record) => {
                        chunk.rows.push((line, record.external_id.clone()));
                        chunk.message.records.push(record);
                    }
                    Err(reason) => chunk.unreadable.push(Refusal {
                        line,
                        external_id: String::new(),
                        reason,
                    }),
                }
            }
            Err(err) => {
                chunk.read += 1;
                let line = err.position().map_or(line, csv::Position::line);
                chunk.unreadable.push(Refusal {
                    line,
                    external_id: String::new(),
                    reason: unreadable(&err),
                });
                if !matches!(
                    err.kind(),
                    csv::ErrorKind::UnequalLengths { .. } | csv::ErrorKind::Utf8 { .. }
                ) {
                    // An I/O error does not go away by reading on.
                    break;
                }
            }
        }
        if chunk.message.records.len() >= batch {
            chunk.position = reader.position().byte();
            if tx
                .blocking_send(std::mem::replace(&mut chunk, empty()))
                .is_err()
            {
                return;
            }
        }
    }
    chunk.position = reader.position().byte();
    let _ = tx.blocking_send(chunk);
}

fn unreadable(err: &csv::Error) -> String {
    match err.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("has {len} columns where the header has {expected_len}"),
        csv::ErrorKind::Utf8 { .. } => "is not valid UTF-8".to_owned(),
        _ => err.to_string(),
    }
}

/// Streams the chunks, a new stream every [`STREAM_FOR`], adding up the answers.
async fn send(
    mut client: baton_proto::v1::identity_service_client::IdentityServiceClient<
        baton_runtime::client::ClientChannel,
    >,
    tenant: &str,
    mut rx: mpsc::Receiver<Chunk>,
    mut progress: Progress,
) -> Result<Outcome, String> {
    let mut outcome = Outcome::default();
    let mut pending = rx.recv().await;
    while let Some(first) = pending.take() {
        let (stream_tx, stream_rx) = mpsc::channel::<ImportProfilesRequest>(2);
        let call = client.import_profiles(ReceiverStream::new(stream_rx));
        let feed = async {
            let until = Instant::now() + STREAM_FOR;
            let mut rows: Vec<(u64, String)> = Vec::new();
            let mut next = Some(first);
            while let Some(mut chunk) = next.take() {
                progress.advance(chunk.read, chunk.position);
                outcome.unreadable += chunk.unreadable.len() as u64;
                outcome.refused.append(&mut chunk.unreadable);
                if !chunk.message.records.is_empty() {
                    rows.append(&mut chunk.rows);
                    chunk.message.tenant_id = tenant.to_owned();
                    if stream_tx.send(chunk.message).await.is_err() {
                        // The server ended the call; its answer says why.
                        break;
                    }
                }
                if Instant::now() >= until {
                    break;
                }
                next = rx.recv().await;
                if next.is_none() {
                    break;
                }
            }
            drop(stream_tx);
            (rows, next)
        };
        let (answer, (rows, leftover)) = tokio::join!(call, feed);
        // A chunk read after the stream closed opens the next one; else read on.
        pending = match leftover {
            Some(chunk) => Some(chunk),
            None => rx.recv().await,
        };
        let answer = answer
            .map_err(|status| {
                format!(
                    "import stopped: {} ({:?}); rows before this stream were committed",
                    status.message(),
                    status.code()
                )
            })?
            .into_inner();
        add(&mut outcome, answer, &rows);
    }
    progress.finish();
    outcome.refused.sort_by_key(|r| r.line);
    Ok(outcome)
}

/// Adds one stream's answer; `rows` are the line and external id of each record it carried.
fn add(outcome: &mut Outcome, answer: ImportProfilesResponse, rows: &[(u64, String)]) {
    let c = &mut outcome.counts;
    c.received += answer.received;
    c.matched += answer.matched;
    c.created += answer.created;
    c.ambiguous += answer.ambiguous;
    c.unchanged += answer.unchanged;
    c.rejected += answer.rejected;
    outcome.omitted += answer.errors_omitted;
    for e in answer.errors {
        let line = usize::try_from(e.index)
            .ok()
            .and_then(|i| rows.get(i))
            .map_or(0, |(line, _)| *line);
        outcome.refused.push(Refusal {
            line,
            external_id: e.external_id,
            reason: e.error,
        });
    }
}
