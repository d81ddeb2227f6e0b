//! The `user.rootlesscontainers` extended attribute: a proto3 message
//! `Resource { uint32 uid = 1; uint32 gid = 2; }` (the format umoci and the
//! rootless-containers PRoot fork use).

/// Name of the attribute that persists fake ownership.
pub const NAME: &str = "user.rootlesscontainers";
/// NUL-terminated form of [`NAME`].
pub const NAME_C: &[u8] = b"user.rootlesscontainers\0";
/// Private attribute recording a device placeholder created by mknod ("c MAJ MIN" / "b MAJ MIN").
pub const DEV_NAME_C: &[u8] = b"user.rootlessrt.mknod\0";
/// Value meaning "this field is not overridden" (umoci writes it).
pub const NOT_SET: u32 = u32::MAX;

/// Why a value could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub &'static str);

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "bad user.rootlesscontainers value: {}", self.0)
    }
}

/// An encoded value: at most two fields of a tag byte and a 5-byte varint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoded {
    buf: [u8; 12],
    len: usize,
}

impl Encoded {
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    fn push(&mut self, b: u8) {
        self.buf[self.len] = b;
        self.len += 1;
    }

    fn put_varint(&mut self, mut v: u32) {
        while v >= 0x80 {
            self.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.push(v as u8);
    }
}

/// Canonical encoding: zero fields are omitted, so 0:0 encodes as an empty value
/// (callers remove the attribute instead of writing it).
pub fn encode(uid: u32, gid: u32) -> Encoded {
    let mut out = Encoded {
        buf: [0; 12],
        len: 0,
    };
    if uid != 0 {
        out.push(0x08);
        out.put_varint(uid);
    }
    if gid != 0 {
        out.push(0x10);
        out.put_varint(gid);
    }
    out
}

fn get_varint(buf: &[u8], pos: &mut usize) -> Result<u64, DecodeError> {
    let mut v: u64 = 0;
    for shift in (0..70).step_by(7) {
        let b = *buf.get(*pos).ok_or(DecodeError("truncated varint"))?;
        *pos += 1;
        if shift == 63 && b > 1 {
            return Err(DecodeError("varint overflow"));
        }
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(DecodeError("varint too long"))
}

/// Decode a value: returns `(uid, gid)`, each `None` when the field says "not
/// overridden" (0xFFFFFFFF). Missing fields are 0; unknown fields are skipped;
/// fields may come in any order (the last occurrence wins, as in protobuf).
pub fn decode(buf: &[u8]) -> Result<(Option<u32>, Option<u32>), DecodeError> {
    let (mut uid, mut gid) = (0u32, 0u32);
    let mut pos = 0;
    while pos < buf.len() {
        let key = get_varint(buf, &mut pos)?;
        let (field, wire) = (key >> 3, key & 7);
        match wire {
            0 => {
                let v = get_varint(buf, &mut pos)?;
                // proto3 uint32 fields carry the low 32 bits of the varint.
                match field {
                    1 => uid = v as u32,
                    2 => gid = v as u32,
                    _ => {}
                }
            }
            1 => pos = pos.checked_add(8).ok_or(DecodeError("overflow"))?,
            2 => {
                let len = get_varint(buf, &mut pos)?;
                let len = usize::try_from(len).map_err(|_| DecodeError("length"))?;
                pos = pos.checked_add(len).ok_or(DecodeError("overflow"))?;
            }
            5 => pos = pos.checked_add(4).ok_or(DecodeError("overflow"))?,
            _ => return Err(DecodeError("unsupported wire type")),
        }
        if pos > buf.len() {
            return Err(DecodeError("truncated field"));
        }
    }
    let f = |v: u32| if v == NOT_SET { None } else { Some(v) };
    Ok((f(uid), f(gid)))
}

/// Kinds of device a placeholder stands for (the `st_mode` file-type bits).
pub const S_IFCHR: u32 = 0o020000;
pub const S_IFBLK: u32 = 0o060000;

/// A device placeholder's record (`DEV_NAME`): "c MAJ MIN" or "b MAJ MIN"
/// gives (S_IFCHR or S_IFBLK, major, minor).
pub fn parse_dev(v: &[u8]) -> Option<(u32, u32, u32)> {
    let s = core::str::from_utf8(v).ok()?;
    let mut it = s.split_ascii_whitespace();
    let kind = match it.next()? {
        "c" => S_IFCHR,
        "b" => S_IFBLK,
        _ => return None,
    };
    let maj: u32 = it.next()?.parse().ok()?;
    let min: u32 = it.next()?.parse().ok()?;
    if it.next().is_some() {
        return None;
    }
    Some((kind, maj, min))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_the_spec() {
        assert_eq!(encode(42, 42).as_bytes(), [0x08, 0x2a, 0x10, 0x2a]);
        assert_eq!(
            encode(1000, 1000).as_bytes(),
            [0x08, 0xe8, 0x07, 0x10, 0xe8, 0x07]
        );
        assert_eq!(encode(0, 42).as_bytes(), [0x10, 0x2a]);
        assert_eq!(encode(0, 0).as_bytes(), [0u8; 0]);
        assert_eq!(
            encode(u32::MAX, 0).as_bytes(),
            [0x08, 0xff, 0xff, 0xff, 0xff, 0x0f]
        );
    }

    #[test]
    fn decodes() {
        assert_eq!(decode(&[0x08, 0x2a, 0x10, 0x2a]), Ok((Some(42), Some(42))));
        assert_eq!(decode(&[0x10, 0x2a, 0x08, 0x2a]), Ok((Some(42), Some(42))));
        assert_eq!(decode(&[]), Ok((Some(0), Some(0))));
        assert_eq!(decode(&[0x10, 0x2a]), Ok((Some(0), Some(42))));
        // umoci: uid "not overridden", gid 42
        assert_eq!(
            decode(&[0x08, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x10, 0x2a]),
            Ok((None, Some(42)))
        );
        // unknown fields skipped: field 3 varint, field 4 length-delimited, field 5 fixed32
        assert_eq!(
            decode(&[0x18, 0x01, 0x22, 0x02, 0xaa, 0xbb, 0x2d, 1, 2, 3, 4, 0x08, 0x07]),
            Ok((Some(7), Some(0)))
        );
        for (u, g) in [(1u32, 2u32), (65534, 65534), (0x7fff_ffff, 3)] {
            assert_eq!(decode(encode(u, g).as_bytes()), Ok((Some(u), Some(g))));
        }
    }

    #[test]
    fn rejects_garbage() {
        assert!(decode(&[0x08]).is_err());
        assert!(decode(&[0x08, 0xff]).is_err());
        assert!(decode(&[0x22, 0x05, 0x00]).is_err());
        assert!(decode(&[0x0b]).is_err());
        assert!(decode(&[0xff; 12]).is_err());
    }

    #[test]
    fn parses_device_records() {
        assert_eq!(parse_dev(b"c 1 3"), Some((S_IFCHR, 1, 3)));
        assert_eq!(parse_dev(b"b 8 0"), Some((S_IFBLK, 8, 0)));
        assert_eq!(parse_dev(b"x 1 2"), None);
        assert_eq!(parse_dev(b"c 1"), None);
        assert_eq!(parse_dev(b"c 1 2 3"), None);
        assert_eq!(parse_dev(b"c -1 2"), None);
    }
}
