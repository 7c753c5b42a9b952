//! Arbitrary bytes opened as a sealed context token: never a panic, and nothing opens that
//! fails a check. Forged bytes cannot pass the seal; the seeds are authentic tokens, so
//! mutations of them exercise every check after it as well as the header parser.

#![no_main]

use baton_fuzz::token::{open_as_each, ring};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|sealed: &[u8]| {
    let _answers = open_as_each(&ring(), sealed);
});
