//! The codec every generated `baton.v1` client and server uses: `tonic-prost`'s encoding, with
//! decoding failures that say whose fault they are.
//!
//! `tonic-prost` answers every message that does not decode with `INTERNAL`, as if the server
//! had broken. A request that does not decode is the caller's mistake: servers answer it with
//! `INVALID_ARGUMENT`, naming the message. A response that does not decode is still `INTERNAL`
//! on the client, since the caller's request was fine. Which messages are requests and which
//! are responses comes from the contract itself: `build.rs` implements [`Decoded`] for every
//! method's input and output types.

use std::marker::PhantomData;

use prost::Message;
use tonic::{
    Code, Status,
    codec::{BufferSettings, Codec, DecodeBuf, Decoder},
};
use tonic_prost::{ProstCodec, ProstEncoder};

/// Which side of a call a message travels on, and so who is to blame when it does not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A method's input, decoded by a server: a failure is the caller's (`INVALID_ARGUMENT`).
    Request,
    /// A method's output, decoded by a client: a failure is the server's (`INTERNAL`).
    Response,
}

/// A message some method sends or receives. Implemented by `build.rs` for every input and
/// output type of the contract's services; nothing else needs it.
pub trait Decoded {
    /// The message's full protobuf name (`baton.v1.StartContactRequest`).
    const NAME: &'static str;
    /// Whether methods take it or return it.
    const ROLE: Role;
}

/// The status for bytes that are not a valid `U`.
pub fn decode_error<U: Decoded>(error: &prost::DecodeError) -> Status {
    let (code, what) = match U::ROLE {
        Role::Request => (Code::InvalidArgument, "request"),
        Role::Response => (Code::Internal, "response"),
    };
    Status::new(code, format!("{what} is not a valid {}: {error}", U::NAME))
}

/// The first allocation of a call's encode and decode buffers. Tonic allocates it when the
/// call starts and keeps it for the call's life, 8 KiB by default: on a long stream (a watch,
/// an agent session) that is most of what the stream costs while nothing happens. The
/// messages of this contract are a few hundred bytes; a larger one grows its buffer as
/// needed.
pub const BUFFER_BYTES: usize = 1024;

/// How much a stream gathers of messages that are ready at once before sending them:
/// tonic's default.
const YIELD_THRESHOLD: usize = 32 * 1024;

fn buffer_settings() -> BufferSettings {
    BufferSettings::new(BUFFER_BYTES, YIELD_THRESHOLD)
}

/// `tonic_prost::ProstCodec` with [`decode_error`] for what does not decode, and buffers of
/// [`BUFFER_BYTES`].
#[derive(Debug, Clone)]
pub struct BatonCodec<T, U> {
    _types: PhantomData<(T, U)>,
}

impl<T, U> Default for BatonCodec<T, U> {
    fn default() -> Self {
        Self {
            _types: PhantomData,
        }
    }
}

impl<T, U> Codec for BatonCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Decoded + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = BatonDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::<T, U>::raw_encoder(buffer_settings())
    }

    fn decoder(&mut self) -> Self::Decoder {
        BatonDecoder { _type: PhantomData }
    }
}

/// Decodes a `U` with prost, failing with [`decode_error`].
#[derive(Debug, Clone)]
pub struct BatonDecoder<U> {
    _type: PhantomData<U>,
}

impl<U: Message + Default + Decoded> Decoder for BatonDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        U::decode(buf)
            .map(Some)
            .map_err(|error| decode_error::<U>(&error))
    }

    fn buffer_settings(&self) -> BufferSettings {
        buffer_settings()
    }
}

// The `Decoded` impls: every method's input and output type, read from the descriptor set.
include!(concat!(env!("OUT_DIR"), "/baton_decoded.rs"));

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::{ResolveRequest, StartContactRequest, StartContactResponse};

    /// Field 1 (`tenant_id`, a string) sent as a varint: the wrong wire type.
    const WRONG_WIRE_TYPE: &[u8] = &[0x08, 0x01];

    fn status_of<U: Message + Default + Decoded + std::fmt::Debug>(bytes: &[u8]) -> Status {
        let error = U::decode(bytes).expect_err("must not decode");
        decode_error::<U>(&error)
    }

    #[test]
    fn a_request_that_does_not_decode_is_the_callers_mistake() {
        let status = status_of::<StartContactRequest>(WRONG_WIRE_TYPE);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(
            status
                .message()
                .starts_with("request is not a valid baton.v1.StartContactRequest: "),
            "{}",
            status.message()
        );
        let status = status_of::<ResolveRequest>(&[0xff; 11]);
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    }

    #[test]
    fn a_response_that_does_not_decode_is_the_servers() {
        let status = status_of::<StartContactResponse>(&[0x0a, 0x05, 0x01]);
        assert_eq!(status.code(), Code::Internal);
        assert!(
            status
                .message()
                .starts_with("response is not a valid baton.v1.StartContactResponse: "),
            "{}",
            status.message()
        );
    }

    #[test]
    fn streamed_messages_have_roles_too() {
        assert_eq!(crate::v1::AgentSessionRequest::ROLE, Role::Request);
        assert_eq!(crate::v1::AgentSessionResponse::ROLE, Role::Response);
        assert_eq!(
            crate::v1::WatchContextResponse::NAME,
            "baton.v1.WatchContextResponse"
        );
    }
}
