//! A CRM export loaded through ImportProfiles: good records apply, a bad one among them is
//! refused alone and named by its place in the stream, and the same records imported again
//! create nobody. Local phone numbers are read in the tenant's configured region. The same
//! through `baton import profiles` on a CSV file with unreadable rows.

use std::io::Write as _;

use baton::{
    client::ClientArgs,
    config::ServiceName,
    import::{self, ImportArgs, dates::DateOrder},
};
use baton_proto::v1::{self as pb, IdentifierAssurance as Assurance, IdentifierKind as Kind};
use baton_tests::{Stores, TestMesh, ident, tenant};
use tonic::Code;

baton_tests::on_every_store!(an_import_refuses_bad_records_alone_and_repeats_create_nobody);

fn record(n: u32) -> pb::ProfileRecord {
    pb::ProfileRecord {
        external_id: format!("crm-{n}"),
        source: "legacy-crm".into(),
        identifiers: vec![ident(
            Kind::Email,
            &format!("person{n}@example.com"),
            Assurance::Claimed,
        )],
        traits: Some(pb::PersonTraits {
            given_name: format!("Person{n}"),
            family_name: "Import".into(),
            date_of_birth: Some(pb::CalendarDate {
                year: 1980,
                month: 1 + (n % 12) as i32,
                day: 1 + n as i32,
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Seven records in two messages: index 3 has no date of birth the calendar knows, index 4 an
/// e-mail address that is none, index 6 a local Sydney number.
fn messages(t: &str) -> Vec<pb::ImportProfilesRequest> {
    let mut bad_date = record(3);
    if let Some(traits) = &mut bad_date.traits {
        traits.date_of_birth = Some(pb::CalendarDate {
            year: 1980,
            month: 2,
            day: 30,
        });
    }
    let mut bad_email = record(4);
    bad_email.identifiers = vec![ident(Kind::Email, "not an address", Assurance::Claimed)];
    let mut local_phone = record(6);
    local_phone
        .identifiers
        .push(ident(Kind::Phone, "02 9876 5432", Assurance::Claimed));
    vec![
        pb::ImportProfilesRequest {
            tenant_id: t.to_owned(),
            records: vec![record(0), record(1), record(2), bad_date],
        },
        pb::ImportProfilesRequest {
            tenant_id: String::new(),
            records: vec![bad_email, record(5), local_phone],
        },
    ]
}

async fn import(
    m: &mut TestMesh,
    messages: Vec<pb::ImportProfilesRequest>,
) -> pb::ImportProfilesResponse {
    m.identity
        .import_profiles(tokio_stream::iter(messages))
        .await
        .expect("import runs")
        .into_inner()
}

async fn an_import_refuses_bad_records_alone_and_repeats_create_nobody(stores: Stores) {
    let t = tenant();
    let mut config = stores.config();
    config.tenant_regions = format!("{t}=AU");
    let mut m = TestMesh::start_with(config).await;

    let first = import(&mut m, messages(&t)).await;
    assert_eq!(first.received, 7, "{first:?}");
    assert_eq!(first.created + first.ambiguous, 5, "{first:?}");
    assert_eq!(first.matched, 0, "{first:?}");
    assert_eq!(first.rejected, 2, "{first:?}");
    let refused: Vec<(u64, &str)> = first
        .errors
        .iter()
        .map(|e| (e.index, e.external_id.as_str()))
        .collect();
    assert_eq!(refused, [(3, "crm-3"), (4, "crm-4")], "{first:?}");
    assert_eq!(
        first.errors[0].error,
        "traits.date_of_birth is not a valid calendar date"
    );
    assert_eq!(first.errors_omitted, 0);

    // The local number was read in the tenant's region, Australia.
    let found = m
        .identity
        .resolve(pb::ResolveRequest {
            tenant_id: t.clone(),
            identifiers: vec![ident(Kind::Phone, "+61 2 9876 5432", Assurance::Claimed)],
            lookup_only: true,
            ..Default::default()
        })
        .await
        .expect("resolves")
        .into_inner();
    assert_eq!(
        found.decision,
        pb::ResolveDecision::Matched as i32,
        "{found:?}"
    );

    // Again: nobody new; the bad records are refused again.
    let second = import(&mut m, messages(&t)).await;
    assert_eq!(second.received, 7, "{second:?}");
    assert_eq!(second.created, 0, "{second:?}");
    assert_eq!(second.ambiguous, 0, "{second:?}");
    assert_eq!(second.matched, 5, "{second:?}");
    assert_eq!(second.rejected, 2, "{second:?}");

    // A stream that changes tenant half-way is refused, saying what committed before.
    let mut switched = messages(&t);
    switched[1].tenant_id = tenant();
    let status = m
        .identity
        .import_profiles(tokio_stream::iter(switched))
        .await
        .expect_err("another tenant mid-stream");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("tenant_id changed"), "{status:?}");
    assert!(status.message().contains("committed"), "{status:?}");

    m.stop().await;
}

#[tokio::test]
async fn the_cli_imports_a_csv_file_and_a_second_run_creates_nobody() {
    let dir = tempfile::tempdir().expect("tempdir");
    let m = TestMesh::start(dir.path()).await;
    let t = tenant();
    let csv = dir.path().join("export.csv");
    let mut file = std::fs::File::create(&csv).expect("csv");
    write!(
        file,
        "Rec_ID,First_Name,Surname,DOB,Mobile,Email,Street_Number,Address_1,Suburb,Postcode,Country\n\
         a-1,Ann,Lee,14/07/1990,+61 412 345 678,ann@example.com,12,High St,Carlton,3053,AU\n\
         a-2,Bo,Kim,31/02/1985,,bo@example.com,,,,,\n\
         a-3,Cy,Ng,1975-03-09,,cy@example.com,,,,\n\
         a-4,Di,Oh,19991231,,not an address,,,,,\n\
         a-5,Ed,Po,\"01/02/03\",,ed@example.com,1,\"Long Rd, Unit 2\",Kew,3101,AU\n"
    )
    .expect("written");
    drop(file);

    let args = ImportArgs {
        file: csv,
        tenant: t.clone(),
        source: "legacy-crm".into(),
        columns: Vec::new(),
        date_order: DateOrder::DayFirst,
        default_region: None,
        batch: 2,
        client: ClientArgs {
            address: m.url(ServiceName::Identity),
            access: m.cli_access(),
        },
    };
    let mut out = Vec::new();
    let outcome = import::run(&args, &mut out).await.expect("import runs");
    let summary = String::from_utf8(out).expect("utf-8");
    assert!(!outcome.clean(), "{summary}");
    assert_eq!(outcome.counts.received, 3, "{summary}");
    assert_eq!(
        outcome.counts.created + outcome.counts.ambiguous,
        2,
        "{summary}"
    );
    assert_eq!(outcome.counts.rejected, 1, "{summary}");
    assert_eq!(outcome.unreadable, 2, "{summary}");
    let lines: Vec<u64> = outcome.refused.iter().map(|r| r.line).collect();
    assert_eq!(lines, [3, 4, 5], "{summary}");
    assert!(summary.contains("line 3: date of birth"), "{summary}");
    assert!(
        summary.contains("line 4: has 10 columns where the header has 11"),
        "{summary}"
    );
    assert!(summary.contains("line 5 (external id a-4): "), "{summary}");
    assert!(summary.contains("received  3"), "{summary}");

    let again = import::run(&args, &mut Vec::new())
        .await
        .expect("import runs");
    assert_eq!(again.counts.created, 0, "{again:?}");
    assert_eq!(again.counts.matched, 2, "{again:?}");
    assert_eq!(again.counts.rejected, 1, "{again:?}");

    m.stop().await;
}

#[tokio::test]
async fn catalog_and_articles_load_from_files_and_a_bad_row_is_skipped_alone() {
    use baton::{
        client::RecommendationClientArgs,
        import::content::{self, ContentArgs},
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let stores = Stores::embedded();
    let mut m = TestMesh::start_with(stores.config()).await;
    let t = tenant();
    let catalog = dir.path().join("catalog.csv");
    std::fs::write(
        &catalog,
        "SKU,Name,Category,Price,Currency,Promotional\n\
         mesh-kit,Mesh Wi-Fi kit,network,129.90,eur,no\n\
         ,No id at all,network,,,\n\
         gift,Gift card,,ten,EUR,yes\n\
         router-x,Router X,network,89,EUR,\n",
    )
    .expect("catalog written");
    let articles = dir.path().join("articles.csv");
    std::fs::write(
        &articles,
        "id,title,body,tags\n\
         kb-router,Router drops every evening,\"Restart the router, then check the channel.\",router;wifi\n\
         kb-empty,,a body without a title,\n",
    )
    .expect("articles written");
    let (address, access) = (m.url(ServiceName::Recommendation), m.cli_access());
    let args = |file: &std::path::Path| ContentArgs {
        file: file.to_path_buf(),
        tenant: t.clone(),
        client: RecommendationClientArgs {
            address: address.clone(),
            access: access.clone(),
        },
    };

    let mut out = Vec::new();
    let items = content::catalog(&args(&catalog), &mut out)
        .await
        .expect("catalog imports");
    let summary = String::from_utf8(out).expect("utf-8");
    assert_eq!(items.written, 2, "{summary}");
    let lines: Vec<u64> = items.refused.iter().map(|r| r.line).collect();
    assert_eq!(lines, [3, 4], "{summary}");
    assert!(summary.contains("line 3: product_id"), "{summary}");
    assert!(summary.contains("line 4: price \"ten\""), "{summary}");

    let mut out = Vec::new();
    let loaded = content::articles(&args(&articles), &mut out)
        .await
        .expect("articles import");
    let summary = String::from_utf8(out).expect("utf-8");
    assert_eq!(loaded.written, 1, "{summary}");
    assert_eq!(loaded.refused.len(), 1, "{summary}");
    assert!(summary.contains("line 3 (id kb-empty): title"), "{summary}");

    let found = m
        .recommendation
        .recommend(pb::RecommendRequest {
            tenant_id: t.clone(),
            utterance: "my router drops every evening".into(),
            channel: pb::Channel::Chat as i32,
            max_articles: 3,
            ..Default::default()
        })
        .await
        .expect("recommends")
        .into_inner()
        .recommendations
        .expect("recommendations");
    assert_eq!(
        found.articles.first().map(|a| a.article_id.as_str()),
        Some("kb-router"),
        "{found:?}"
    );
    // The same file again: the same items, written over themselves.
    let again = content::catalog(&args(&catalog), &mut Vec::new())
        .await
        .expect("again");
    assert_eq!((again.written, again.refused.len()), (2, 2));
    m.stop().await;
}
