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

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad user.rootlesscontainers value: {}", self.0)
    }
}
impl std::error::Error for DecodeError {}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Canonical encoding: zero fields are omitted, so 0:0 encodes as an empty value
/// (callers remove the attribute instead of writing it).
pub fn encode(uid: u32, gid: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(12);
    if uid != 0 {
        out.push(0x08);
        put_varint(&mut out, uid.into());
    }
    if gid != 0 {
        out.push(0x10);
        put_varint(&mut out, gid.into());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_the_spec() {
        assert_eq!(encode(42, 42), [0x08, 0x2a, 0x10, 0x2a]);
        assert_eq!(encode(1000, 1000), [0x08, 0xe8, 0x07, 0x10, 0xe8, 0x07]);
        assert_eq!(encode(0, 42), [0x10, 0x2a]);
        assert_eq!(encode(0, 0), Vec::<u8>::new());
        assert_eq!(encode(u32::MAX, 0), [0x08, 0xff, 0xff, 0xff, 0xff, 0x0f]);
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
            assert_eq!(decode(&encode(u, g)), Ok((Some(u), Some(g))));
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
}
