//! Compiles `proto/baton/v1` hermetically: `protox` parses the files (no system `protoc`),
//! `tonic-prost-build` generates messages, clients and servers, and the encoded file
//! descriptor set is kept for server reflection. Every generated client and server uses
//! `baton_proto::codec::BatonCodec`, which needs to know which messages are requests: this
//! script writes that down from the services' method types.

use std::{collections::BTreeMap, env, fs, io, path::PathBuf};

use prost::Message as _;
use tonic_prost_build::FileDescriptorSet;

fn main() -> io::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files = [
        "baton/v1/common.proto",
        "baton/v1/identity.proto",
        "baton/v1/context.proto",
        "baton/v1/recommendation.proto",
        "baton/v1/token.proto",
        "baton/v1/routing.proto",
        "baton/v1/audit.proto",
    ];
    println!("cargo:rerun-if-changed={}", root.display());
    for file in &files {
        println!("cargo:rerun-if-changed={}", root.join(file).display());
    }

    let fds = protox::compile(files, [&root]).map_err(io::Error::other)?;
    let out = PathBuf::from(env::var("OUT_DIR").map_err(io::Error::other)?);
    fs::write(out.join("baton_descriptor.bin"), fds.encode_to_vec())?;
    fs::write(out.join("baton_decoded.rs"), decoded_impls(&fds)?)?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .codec_path("crate::codec::BatonCodec")
        .compile_fds(fds)
}

/// `impl Decoded` for every method input (a request) and output (a response) of every
/// service. A message that is both would need a role per direction: refused until one does.
fn decoded_impls(fds: &FileDescriptorSet) -> io::Result<String> {
    let mut roles: BTreeMap<String, &str> = BTreeMap::new();
    for file in &fds.file {
        for service in &file.service {
            for method in &service.method {
                for (name, role) in [
                    (method.input_type(), "Request"),
                    (method.output_type(), "Response"),
                ] {
                    let name = name.trim_start_matches('.').to_owned();
                    if let Some(other) = roles.insert(name.clone(), role)
                        && other != role
                    {
                        return Err(io::Error::other(format!(
                            "{name} is both a request and a response of baton.v1 methods"
                        )));
                    }
                }
            }
        }
    }
    let mut out = String::new();
    for (name, role) in roles {
        let Some(rust_name) = name.strip_prefix("baton.v1.").filter(|n| !n.contains('.')) else {
            return Err(io::Error::other(format!(
                "method type {name} is not a top-level baton.v1 message"
            )));
        };
        out.push_str(&format!(
            "impl Decoded for crate::v1::{rust_name} {{\n    \
             const NAME: &'static str = \"{name}\";\n    \
             const ROLE: Role = Role::{role};\n}}\n"
        ));
    }
    Ok(out)
}
