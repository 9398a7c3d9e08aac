//! Line-oriented commands over the UART: a command word, then its arguments, one line each.
//! Long arguments (a pool in hex) are read as a stream, never buffered whole.

use crate::board::Uart;

/// How a word ended.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// A space: more on this line.
    Space,
    /// The end of the line.
    Line,
}

fn is_newline(b: u8) -> bool {
    b == b'\n' || b == b'\r'
}

/// Reads one word into `buf` (skipping leading spaces and empty lines). A word longer than
/// `buf` is cut (and the rest of it dropped): returns `None` for it.
pub fn read_word<'b>(uart: &mut Uart, buf: &'b mut [u8]) -> (Option<&'b [u8]>, End) {
    let mut len = 0usize;
    let mut too_long = false;
    loop {
        let b = uart.read_byte();
        if b == b' ' || is_newline(b) {
            if len == 0 && !too_long {
                continue; // leading spaces and empty lines
            }
            let end = if b == b' ' { End::Space } else { End::Line };
            return (if too_long { None } else { buf.get(..len) }, end);
        }
        match buf.get_mut(len) {
            Some(slot) => {
                *slot = b;
                len += 1;
            }
            None => too_long = true,
        }
    }
}

/// Reads the rest of the line into `buf`; `None` if it does not fit (the line is consumed).
pub fn read_rest<'b>(uart: &mut Uart, end: End, buf: &'b mut [u8]) -> Option<&'b [u8]> {
    if end == End::Line {
        return buf.get(..0);
    }
    let mut len = 0usize;
    let mut too_long = false;
    loop {
        let b = uart.read_byte();
        if is_newline(b) {
            return if too_long { None } else { buf.get(..len) };
        }
        match buf.get_mut(len) {
            Some(slot) => {
                *slot = b;
                len += 1;
            }
            None => too_long = true,
        }
    }
}

/// Drops the rest of the line.
pub fn skip_line(uart: &mut Uart, end: End) {
    if end == End::Line {
        return;
    }
    while !is_newline(uart.read_byte()) {}
}

/// The value of one hex digit.
pub fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes exactly `N` bytes of hex.
pub fn hex<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    if text.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let [h, l] = pair else { return None };
        *o = (nibble(*h)? << 4) | nibble(*l)?;
    }
    Some(out)
}

/// Writes bytes as lower-case hex.
pub fn put_hex(uart: &mut Uart, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        uart.write_byte(DIGITS[usize::from(b >> 4)]);
        uart.write_byte(DIGITS[usize::from(b & 15)]);
    }
}

/// Writes a decimal number.
pub fn put_u64(uart: &mut Uart, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + div10(&mut n);
        if n == 0 {
            break;
        }
    }
    uart.write_bytes(&buf[at..]);
}

/// Divides `n` by 10 in place and returns the remainder, with the core's 32-bit divider over
/// 16-bit limbs: a 64-bit `/` would link the 0.9 KB software division.
fn div10(n: &mut u64) -> u8 {
    let (mut quotient, mut rest) = (0u64, 0u32);
    for shift in [48u32, 32, 16, 0] {
        let limb = (rest << 16) | ((*n >> shift) as u32 & 0xffff);
        quotient |= u64::from(limb / 10) << shift;
        rest = limb % 10;
    }
    *n = quotient;
    rest as u8
}

/// Parses a decimal number.
pub fn parse_u64(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 19 {
        return None;
    }
    let mut n = 0u64;
    for c in text {
        n = n * 10 + u64::from(c.checked_sub(b'0').filter(|d| *d < 10)?);
    }
    Some(n)
}
