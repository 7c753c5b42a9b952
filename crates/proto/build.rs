//! Compiles `proto/baton/v1` hermetically: `protox` parses the files (no system `protoc`),
//! `tonic-prost-build` generates messages, clients and servers, and the encoded file
//! descriptor set is kept for server reflection.

use std::{env, fs, io, path::PathBuf};

use prost::Message as _;

fn main() -> io::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files = [
        "baton/v1/common.proto",
        "baton/v1/identity.proto",
        "baton/v1/context.proto",
        "baton/v1/recommendation.proto",
        "baton/v1/token.proto",
        "baton/v1/routing.proto",
    ];
    println!("cargo:rerun-if-changed={}", root.display());
    for file in &files {
        println!("cargo:rerun-if-changed={}", root.join(file).display());
    }

    let fds = protox::compile(files, [&root]).map_err(io::Error::other)?;
    let out = PathBuf::from(env::var("OUT_DIR").map_err(io::Error::other)?);
    fs::write(out.join("baton_descriptor.bin"), fds.encode_to_vec())?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)
}
