//! Bytes that are not a request, sent over real gRPC to an in-process server: the caller is
//! told its request is invalid, and a request too large to decode is refused unread.

use std::net::SocketAddr;

use baton_identity::grpc::validate::MAX_REQUEST_BYTES;
use baton_proto::v1::{Identifier, IdentifierKind, ResolveRequest, ResolveResponse};
use baton_runtime::shutdown::Shutdown;
use prost::{
    Message as _,
    bytes::{Buf as _, BufMut as _},
};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{
    Code, Status,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    codegen::http::uri::PathAndQuery,
    transport::{Channel, Endpoint},
};

/// Sends and receives messages as the raw bytes they are, so a test can send anything.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        *self
    }

    fn decoder(&mut self) -> Self::Decoder {
        *self
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        buf.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let mut out = vec![0; buf.remaining()];
        buf.copy_to_slice(&mut out);
        Ok(Some(out))
    }
}

/// Starts identity on an embedded store in `dir`; the server runs until the test ends.
async fn serve(dir: &std::path::Path) -> SocketAddr {
    let store = baton_identity::open_embedded(dir).expect("open store");
    let svc = baton_identity::grpc_service(store, Default::default(), Shutdown::new());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(svc)
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    addr
}

/// Calls `Resolve` with `body` as the request message.
async fn resolve_raw(addr: SocketAddr, body: Vec<u8>) -> Result<Vec<u8>, Status> {
    let channel: Channel = Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("ready");
    let path = PathAndQuery::from_static("/baton.v1.IdentityService/Resolve");
    grpc.unary(tonic::Request::new(body), path, RawCodec)
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn garbage_is_an_invalid_argument_naming_the_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let addr = serve(dir.path()).await;
    // Field 2 (identifiers) with a length running past the end, then field 1 (tenant_id, a
    // string) as a varint: neither is a ResolveRequest.
    for garbage in [vec![0x12, 0x7f, 0x01], vec![0x08, 0x01], vec![0xff; 12]] {
        let status = resolve_raw(addr, garbage.clone())
            .await
            .expect_err("garbage must be refused");
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{garbage:?}: {status:?}"
        );
        assert!(
            status
                .message()
                .starts_with("request is not a valid baton.v1.ResolveRequest: "),
            "{}",
            status.message()
        );
    }
}

#[tokio::test]
async fn the_same_call_with_a_valid_message_gets_past_decoding() {
    let dir = tempfile::tempdir().expect("tempdir");
    let addr = serve(dir.path()).await;
    let request = ResolveRequest {
        tenant_id: "acme".into(),
        identifiers: vec![Identifier {
            kind: IdentifierKind::Email as i32,
            value: "ada@example.com".into(),
            ..Identifier::default()
        }],
        lookup_only: true,
        ..ResolveRequest::default()
    };
    // Whatever the service then decides (an answer, or a refusal of this caller), the bytes
    // were a ResolveRequest.
    match resolve_raw(addr, request.encode_to_vec()).await {
        Ok(answer) => {
            ResolveResponse::decode(answer.as_slice()).expect("a ResolveResponse");
        }
        Err(status) => assert!(
            !status.message().starts_with("request is not a valid"),
            "{status:?}"
        ),
    }
}

#[tokio::test]
async fn a_request_over_the_size_limit_is_refused_before_it_is_decoded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let addr = serve(dir.path()).await;
    // Empty identifiers, two bytes each: the shape of the request that took routing 16 s and
    // 1.3 GB to refuse.
    let mut body = Vec::with_capacity(MAX_REQUEST_BYTES + 2);
    while body.len() <= MAX_REQUEST_BYTES {
        body.extend_from_slice(&[0x12, 0x00]);
    }
    let status = resolve_raw(addr, body).await.expect_err("too large");
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
}
