//! `vesper-proto` frames on libp2p streams: one request frame and one response frame per
//! stream (`/vesper/jobs/1`, docs/PROTOCOL.md). Every read is bounded by the frame header:
//! unknown types and oversized frames are refused from the 5 header bytes, before any payload
//! is buffered.

use std::io;

use futures_util::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use libp2p::StreamProtocol;
use vesper_proto::{Decoded, HEADER_LEN, Message};

#[derive(Clone, Copy, Debug, Default)]
pub struct FrameCodec;

async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<Message> {
    let mut header = [0u8; HEADER_LEN];
    io.read_exact(&mut header).await?;
    let (_, len) = vesper_proto::decode_header(&header)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
        .expect("a whole header");
    let mut frame = Vec::with_capacity(HEADER_LEN + len);
    frame.extend_from_slice(&header);
    frame.resize(HEADER_LEN + len, 0);
    io.read_exact(&mut frame[HEADER_LEN..]).await?;
    match vesper_proto::decode(&frame).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))? {
        Decoded::Frame(msg, _) => Ok(msg),
        Decoded::Incomplete(_) => unreachable!("the whole frame was read"),
    }
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, msg: &Message) -> io::Result<()> {
    let frame =
        vesper_proto::encode(msg).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    io.write_all(&frame).await?;
    io.close().await
}

impl libp2p::request_response::Codec for FrameCodec {
    type Protocol = StreamProtocol;
    type Request = Message;
    type Response = Message;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Message>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Message>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Message,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &req).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Message,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &res).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::io::Cursor;
    use vesper_proto::{LeaseRequest, MAX_FRAME};

    #[tokio::test]
    async fn frames_cross_a_stream_and_bad_headers_are_refused_before_the_payload() {
        let msg = Message::LeaseRequest(LeaseRequest { max_jobs: 1 });
        let mut buf = Cursor::new(Vec::new());
        write_frame(&mut buf, &msg).await.unwrap();
        let mut rd = Cursor::new(buf.into_inner());
        assert_eq!(read_frame(&mut rd).await.unwrap(), msg);

        // A header announcing more than MAX_FRAME: refused with no payload present at all.
        let mut huge = vec![0x03];
        huge.extend_from_slice(&((MAX_FRAME as u32) + 1).to_be_bytes());
        let err = read_frame(&mut Cursor::new(huge)).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        // An unknown type, and a reserved one.
        for t in [0x7f, 0x10] {
            let err = read_frame(&mut Cursor::new(vec![t, 0, 0, 0, 2, b'{', b'}']))
                .await
                .unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        }
        // A truncated payload is an I/O error, not a hang or a panic.
        let err = read_frame(&mut Cursor::new(vec![0x03, 0, 0, 0, 9, b'{']))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
