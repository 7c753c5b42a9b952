//! The key ring: spec parsing, the key file, and rotation.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use baton_token::{Key, KeyRing, KeyRingError, OpenError};
use common::*;

fn b64(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

#[test]
fn spec_round_trips() {
    let spec = format!("old={},new={}", b64(&[1; 32]), b64(&[2; 32]));
    let ring = KeyRing::parse(&spec).expect("valid spec");
    assert_eq!(ring.to_spec(), spec);
    assert_eq!(ring.active_kid(), "new");
    assert_eq!(ring.kids().collect::<Vec<_>>(), ["old", "new"]);

    let generated = KeyRing::generate("k-2024.01_a").expect("valid kid");
    let reparsed = KeyRing::parse(&generated.to_spec()).expect("own spec parses");
    assert_eq!(reparsed.to_spec(), generated.to_spec());
    // Same keys: a token sealed by one opens with the other.
    let sealed = generated.seal(&token());
    assert!(reparsed.open(&sealed, &agent(), now()).is_ok());
}

#[test]
fn spec_tolerates_surrounding_whitespace() {
    let spec = format!(" a = {} ,\n b={}\n", b64(&[1; 32]), b64(&[2; 32]));
    let ring = KeyRing::parse(&spec).expect("valid spec");
    assert_eq!(ring.active_kid(), "b");
}

#[test]
fn spec_errors_are_specific() {
    let key = b64(&[7; 32]);
    assert!(matches!(KeyRing::parse(""), Err(KeyRingError::Empty)));
    assert!(matches!(KeyRing::parse("  \n"), Err(KeyRingError::Empty)));
    assert!(matches!(
        KeyRing::parse(&format!("a={key},b")),
        Err(KeyRingError::NotAPair { position: 2 })
    ));
    assert!(matches!(
        KeyRing::parse(&format!("a={key},")),
        Err(KeyRingError::NotAPair { position: 2 })
    ));
    assert!(matches!(
        KeyRing::parse("a=not*base64"),
        Err(KeyRingError::BadBase64 { kid }) if kid == "a"
    ));
    assert!(matches!(
        KeyRing::parse(&format!("a={}", b64(&[7; 16]))),
        Err(KeyRingError::WrongLength { kid, len: 16 }) if kid == "a"
    ));
    assert!(matches!(
        KeyRing::parse(&format!("a={}", b64(&[7; 33]))),
        Err(KeyRingError::WrongLength { len: 33, .. })
    ));
    assert!(matches!(
        KeyRing::parse(&format!("a={key},a={key}")),
        Err(KeyRingError::DuplicateKid { kid }) if kid == "a"
    ));
    let long = "k".repeat(65);
    for bad in ["", "key id", "ké", "a/b", long.as_str()] {
        assert!(
            matches!(
                KeyRing::parse(&format!("{bad}={key}")),
                Err(KeyRingError::BadKid { .. })
            ),
            "{bad:?}"
        );
    }
    assert!(KeyRing::parse(&format!("{}={key}", "k".repeat(64))).is_ok());
}

#[test]
fn errors_and_debug_never_show_key_material() {
    let key = b64(&[9; 32]);
    let ring = KeyRing::parse(&format!("a={key}")).expect("valid spec");
    assert!(!format!("{ring:?}").contains(&key));
    assert_eq!(format!("{:?}", Key::from_bytes([9; 32])), "Key(..)");
    let err = KeyRing::parse(&format!("a={key},a={key}")).expect_err("duplicate");
    assert!(!err.to_string().contains(&key));
}

#[test]
fn generate_and_push_refuse_bad_kids() {
    assert!(matches!(
        KeyRing::generate("a,b"),
        Err(KeyRingError::BadKid { .. })
    ));
    let mut ring = KeyRing::generate("a").expect("valid kid");
    assert!(matches!(
        ring.push("a", Key::generate()),
        Err(KeyRingError::DuplicateKid { .. })
    ));
    assert!(matches!(
        ring.push("", Key::generate()),
        Err(KeyRingError::BadKid { .. })
    ));
    assert_eq!(ring.active_kid(), "a");
}

#[test]
fn rotation_keeps_old_tokens_open_and_seals_with_the_new_key() {
    let old_ring = KeyRing::generate("old").expect("valid kid");
    let old_token = old_ring.seal(&token());

    // Deploy: the spec gains a new key at the end.
    let rotated =
        KeyRing::parse(&format!("{},new={}", old_ring.to_spec(), b64(&[3; 32]))).expect("spec");
    assert_eq!(rotated.active_kid(), "new");
    assert_eq!(rotated.open(&old_token, &agent(), now()), Ok(token()));
    let new_token = rotated.seal(&token());
    assert_eq!(&new_token[5..8], b"new");
    assert_eq!(rotated.open(&new_token, &agent(), now()), Ok(token()));

    // Replicas not yet rotated cannot open new tokens: roll out new keys before using them.
    assert_eq!(
        old_ring.open(&new_token, &agent(), now()),
        Err(OpenError::UnknownKey { kid: "new".into() })
    );

    // Retire: the old key leaves the spec; its tokens no longer open.
    let retired = KeyRing::parse(&format!("new={}", b64(&[3; 32]))).expect("spec");
    assert_eq!(
        retired.open(&old_token, &agent(), now()),
        Err(OpenError::UnknownKey { kid: "old".into() })
    );
    assert_eq!(retired.open(&new_token, &agent(), now()), Ok(token()));
}

#[test]
fn same_kid_different_key_breaks_the_seal() {
    let a = KeyRing::new("k1", Key::from_bytes([1; 32])).expect("valid kid");
    let b = KeyRing::new("k1", Key::from_bytes([2; 32])).expect("valid kid");
    assert_eq!(
        b.open(&a.seal(&token()), &agent(), now()),
        Err(OpenError::Tampered)
    );
}

#[test]
fn load_or_create_creates_once_then_reloads() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("state").join("token-keys");
    let first = KeyRing::load_or_create(&path).expect("created");
    let sealed = first.seal(&token());
    let second = KeyRing::load_or_create(&path).expect("reloaded");
    assert_eq!(second.to_spec(), first.to_spec());
    assert_eq!(second.open(&sealed, &agent(), now()), Ok(token()));
    // Only the key file is left behind, no temporary files.
    let entries: Vec<_> = std::fs::read_dir(path.parent().expect("parent"))
        .expect("list")
        .collect();
    assert_eq!(entries.len(), 1);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn load_or_create_reads_an_operator_written_ring() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("keys");
    let spec = format!("a={},b={}\n", b64(&[1; 32]), b64(&[2; 32]));
    std::fs::write(&path, &spec).expect("write");
    let ring = KeyRing::load_or_create(&path).expect("loaded");
    assert_eq!(ring.active_kid(), "b");
}

#[test]
fn load_or_create_never_overwrites_an_invalid_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("keys");
    std::fs::write(&path, "garbage").expect("write");
    assert!(matches!(
        KeyRing::load_or_create(&path),
        Err(KeyRingError::InvalidFile { .. })
    ));
    assert_eq!(std::fs::read_to_string(&path).expect("read"), "garbage");
}
