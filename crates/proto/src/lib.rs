//! The `baton.v1` contract as Rust types: messages, gRPC clients and servers generated from
//! `proto/baton/v1`, plus the encoded file descriptor set that server reflection serves.
//!
//! Nothing here is written by hand except this file and [`codec`] (the generated code's
//! codec); the `.proto` files are the source of truth and other languages generate their
//! clients from the same files.

#![allow(clippy::doc_lazy_continuation, clippy::large_enum_variant)]

pub mod codec;

/// The `baton.v1` package.
pub mod v1 {
    #![allow(missing_docs)]
    // The comments are the .proto files' own, written for every language's generator: `<id>`
    // there is a placeholder, not HTML.
    #![allow(rustdoc::invalid_html_tags)]
    tonic::include_proto!("baton.v1");
}

/// The encoded `FileDescriptorSet` of every `baton.v1` file, for `tonic-reflection`.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("baton_descriptor");

/// The fully qualified gRPC service names, as health checks and reflection report them.
pub mod service_names {
    /// `baton.v1.IdentityService`.
    pub const IDENTITY: &str = "baton.v1.IdentityService";
    /// `baton.v1.ContextService`.
    pub const CONTEXT: &str = "baton.v1.ContextService";
    /// `baton.v1.RoutingService`.
    pub const ROUTING: &str = "baton.v1.RoutingService";
    /// `baton.v1.RecommendationService`.
    pub const RECOMMENDATION: &str = "baton.v1.RecommendationService";
    /// `baton.v1.AuditService`, served on every port next to health and reflection.
    pub const AUDIT: &str = "baton.v1.AuditService";
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    #[test]
    fn descriptor_set_names_every_service() {
        let fds = prost_types::FileDescriptorSet::decode(super::FILE_DESCRIPTOR_SET)
            .expect("descriptor set decodes");
        let services: Vec<String> = fds
            .file
            .iter()
            .flat_map(|f| {
                let pkg = f.package().to_owned();
                f.service.iter().map(move |s| format!("{pkg}.{}", s.name()))
            })
            .collect();
        for name in [
            super::service_names::IDENTITY,
            super::service_names::CONTEXT,
            super::service_names::ROUTING,
            super::service_names::RECOMMENDATION,
            super::service_names::AUDIT,
        ] {
            assert!(
                services.iter().any(|s| s == name),
                "{name} missing from {services:?}"
            );
        }
    }
}
