//! Wire format of `conglang/sync/1`: length-prefixed frames holding one postcard-
//! encoded message each, deflated when that saves bytes.
//!
//! The length prefix is checked against `MAX_FRAME` before anything is allocated, and
//! inflation stops at `MAX_MESSAGE`, so a hostile peer cannot make a node allocate
//! more than a few MiB whatever it sends.

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use serde::{Deserialize, Serialize};

use crate::identity::NodeId;
use crate::model::{DocId, SignedChange};

/// The ALPN: bump the number on any incompatible change.
pub const ALPN: &[u8] = b"conglang/sync/1";
pub const VERSION: u16 = 1;

/// Largest frame body on the wire (compressed).
pub const MAX_FRAME: usize = 2 * 1024 * 1024;
/// Largest message after inflation.
pub const MAX_MESSAGE: usize = 4 * 1024 * 1024;
/// Most documents in one offer or want message.
pub const MAX_DOCS_PER_MSG: usize = 4096;
/// Most changes in one batch.
pub const MAX_CHANGES_PER_BATCH: usize = 2048;
/// Most heads listed for one document (honest documents have a handful).
pub const MAX_HEADS: usize = 64;

const FLAG_DEFLATE: u8 = 1;
/// Frames smaller than this are not worth deflating.
const DEFLATE_MIN: usize = 200;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocState {
    pub id: DocId,
    pub heads: Vec<[u8; 32]>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    /// First message each way: who we are and a digest of everything we hold.
    Hello {
        version: u16,
        commune: NodeId,
        digest: [u8; 16],
        docs: u64,
        /// Heads of our roster: the peer pushes roster changes we lack before
        /// anything else, since every other verdict depends on the roster.
        roster: Vec<[u8; 32]>,
    },
    /// "These documents changed on my side; here are my heads." `last` marks the end
    /// of a first-contact offer of everything (see `Session`).
    Offer { docs: Vec<DocState>, last: bool },
    /// "I lack changes of these documents; here are my heads, send what I miss."
    Want { docs: Vec<DocState> },
    /// Signed changes, most urgent first.
    Changes { changes: Vec<SignedChange> },
    /// A batch was verified and committed; my digest after it.
    Ack { digest: [u8; 16] },
    /// I have nothing more to send you; my digest now, and how many of your
    /// messages I had handled (so you can tell whether it crossed one of yours).
    Idle { digest: [u8; 16], seen: u64 },
    /// Closing with a reason (logged by the peer).
    Bye { reason: String },
}

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("frame of {0} bytes exceeds the {MAX_FRAME} byte limit")]
    TooLarge(usize),
    #[error("message inflates past the {MAX_MESSAGE} byte limit")]
    InflatesTooFar,
    #[error("malformed frame: {0}")]
    Malformed(String),
    #[error("message breaks a limit: {0}")]
    Limit(&'static str),
}

/// Encodes one message as a frame: `u32 LE length | flags | body`.
pub fn encode(msg: &Msg) -> Vec<u8> {
    let raw = postcard::to_stdvec(msg).expect("messages serialise");
    let (flags, body) = if raw.len() >= DEFLATE_MIN {
        let mut e = DeflateEncoder::new(Vec::with_capacity(raw.len() / 2), Compression::new(6));
        e.write_all(&raw).expect("write to vec");
        let z = e.finish().expect("finish to vec");
        if z.len() < raw.len() {
            (FLAG_DEFLATE, z)
        } else {
            (0, raw)
        }
    } else {
        (0, raw)
    };
    let mut out = Vec::with_capacity(body.len() + 5);
    out.extend_from_slice(&((body.len() + 1) as u32).to_le_bytes());
    out.push(flags);
    out.extend_from_slice(&body);
    out
}

/// Reads the length prefix; refuses oversize frames before any allocation.
pub fn frame_len(prefix: [u8; 4]) -> Result<usize, WireError> {
    let n = u32::from_le_bytes(prefix) as usize;
    if n == 0 || n > MAX_FRAME + 1 {
        return Err(WireError::TooLarge(n));
    }
    Ok(n)
}

/// Decodes a frame body (flags + payload, without the length prefix).
pub fn decode(frame: &[u8]) -> Result<Msg, WireError> {
    let Some((&flags, body)) = frame.split_first() else {
        return Err(WireError::Malformed("empty frame".into()));
    };
    let msg: Msg = match flags {
        0 => postcard::from_bytes(body).map_err(|e| WireError::Malformed(e.to_string()))?,
        FLAG_DEFLATE => {
            let mut out = Vec::new();
            DeflateDecoder::new(body)
                .take(MAX_MESSAGE as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| WireError::Malformed(e.to_string()))?;
            if out.len() > MAX_MESSAGE {
                return Err(WireError::InflatesTooFar);
            }
            postcard::from_bytes(&out).map_err(|e| WireError::Malformed(e.to_string()))?
        }
        f => return Err(WireError::Malformed(format!("unknown flags {f}"))),
    };
    check_limits(&msg)?;
    Ok(msg)
}

fn check_limits(msg: &Msg) -> Result<(), WireError> {
    match msg {
        Msg::Offer { docs, .. } | Msg::Want { docs } => {
            if docs.len() > MAX_DOCS_PER_MSG {
                return Err(WireError::Limit("too many documents in one message"));
            }
            if docs.iter().any(|d| d.heads.len() > MAX_HEADS) {
                return Err(WireError::Limit("too many heads for one document"));
            }
        }
        Msg::Hello { roster, .. } if roster.len() > MAX_HEADS => {
            return Err(WireError::Limit("too many roster heads"));
        }
        Msg::Changes { changes } => {
            if changes.len() > MAX_CHANGES_PER_BATCH {
                return Err(WireError::Limit("too many changes in one batch"));
            }
            if changes
                .iter()
                .any(|c| c.bytes.len() > crate::model::signed::MAX_CHANGE_BYTES)
            {
                return Err(WireError::Limit("change too large"));
            }
        }
        Msg::Bye { reason } if reason.len() > 1024 => {
            return Err(WireError::Limit("reason too long"));
        }
        _ => {}
    }
    Ok(())
}

/// Splits a byte stream into frames: feed bytes in, take messages out. Used by the
/// bundle reader and by tests; the network reads frames directly.
#[derive(Default)]
pub struct FrameReader {
    buf: Vec<u8>,
}

impl FrameReader {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Next complete message, `Ok(None)` if more bytes are needed.
    pub fn next_msg(&mut self) -> Result<Option<Msg>, WireError> {
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let n = frame_len(self.buf[..4].try_into().expect("4 bytes"))?;
        if self.buf.len() < 4 + n {
            return Ok(None);
        }
        let msg = decode(&self.buf[4..4 + n]);
        self.buf.drain(..4 + n);
        msg.map(Some)
    }

    pub fn remaining(&self) -> usize {
        self.buf.len()
    }
}
