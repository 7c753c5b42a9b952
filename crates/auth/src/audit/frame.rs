//! The gRPC frame around a request message: one byte saying whether the message is
//! compressed, four bytes of big-endian length, then the message. A unary request's body is
//! exactly one frame.

/// What a unary request's body holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// One uncompressed message: these bytes.
    Message(&'a [u8]),
    /// One compressed message (baton's servers accept none, so the service refuses it).
    Compressed,
    /// Not exactly one frame: too short, a length that does not match, an unknown flag.
    Malformed,
}

/// The length of the frame header.
pub const HEADER_LEN: usize = 5;

/// Reads the one frame of a unary request's `body`.
pub fn parse(body: &[u8]) -> Frame<'_> {
    let Some((header, message)) = body.split_at_checked(HEADER_LEN) else {
        return Frame::Malformed;
    };
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
    if usize::try_from(len).ok() != Some(message.len()) {
        return Frame::Malformed;
    }
    match header[0] {
        0 => Frame::Message(message),
        1 => Frame::Compressed,
        _ => Frame::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn framed(flag: u8, message: &[u8]) -> Vec<u8> {
        let mut out = vec![flag];
        out.extend_from_slice(&(message.len() as u32).to_be_bytes());
        out.extend_from_slice(message);
        out
    }

    #[test]
    fn one_frame_is_read_and_anything_else_is_not() {
        assert_eq!(parse(&framed(0, b"abc")), Frame::Message(b"abc"));
        assert_eq!(parse(&framed(0, b"")), Frame::Message(b""));
        assert_eq!(parse(&framed(1, b"abc")), Frame::Compressed);
        assert_eq!(parse(&framed(2, b"abc")), Frame::Malformed);
        assert_eq!(parse(b""), Frame::Malformed);
        assert_eq!(parse(&[0, 0, 0]), Frame::Malformed);
        let mut truncated = framed(0, b"abc");
        truncated.pop();
        assert_eq!(parse(&truncated), Frame::Malformed);
        let two = [framed(0, b"a"), framed(0, b"b")].concat();
        assert_eq!(parse(&two), Frame::Malformed);
    }

    proptest! {
        #[test]
        fn any_bytes_parse_without_panicking(body in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse(&body);
        }

        #[test]
        fn a_framed_message_comes_back_whole(message in proptest::collection::vec(any::<u8>(), 0..256)) {
            let body = framed(0, &message);
            prop_assert_eq!(parse(&body), Frame::Message(&message));
        }
    }
}
