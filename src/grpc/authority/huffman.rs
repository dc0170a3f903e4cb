//! Decoder for the HPACK Huffman code (RFC 7541 §5.2 and Appendix B).
//!
//! The HPACK code is *canonical*: within one code length, codes are
//! consecutive integers assigned in symbol order, and the first code of each
//! length follows from the counts of the shorter lengths. So the whole code is
//! determined by the bit length of each of the 257 symbols, and a decoder
//! needs only three small tables computed at compile time: for each length,
//! the first code, the number of codes and where its symbols start in the
//! length-then-symbol ordering. Decoding walks the input one bit at a time with
//! a few integer operations per bit and no allocation beyond the output.

use thiserror::Error;

/// Symbol 256: the end-of-string code (30 one bits), never valid inside a string.
const EOS: u16 = 256;
const MAX_CODE_LEN: usize = 30;

/// Bit length of the code of each symbol 0..=256 (RFC 7541 Appendix B).
#[rustfmt::skip]
const CODE_LENGTHS: [u8; 257] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
    28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
    6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
    5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
    13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
    15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
    6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
    20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
    24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
    22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
    21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
    26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
    19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
    20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
    26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
    30,
];

/// Decoding tables of the canonical code, indexed by code length.
struct Canonical {
    /// Numerically first code of each length.
    first: [u32; MAX_CODE_LEN + 1],
    /// Number of codes of each length.
    count: [u32; MAX_CODE_LEN + 1],
    /// Index into `symbols` of the first symbol of each length.
    offset: [u16; MAX_CODE_LEN + 1],
    /// Symbols ordered by (code length, symbol).
    symbols: [u16; 257],
}

const fn build_canonical() -> Canonical {
    let mut table = Canonical {
        first: [0; MAX_CODE_LEN + 1],
        count: [0; MAX_CODE_LEN + 1],
        offset: [0; MAX_CODE_LEN + 1],
        symbols: [0; 257],
    };
    let mut symbol = 0;
    while symbol < 257 {
        table.count[CODE_LENGTHS[symbol] as usize] += 1;
        symbol += 1;
    }
    let mut code = 0u32;
    let mut next = 0usize;
    let mut len = 1;
    while len <= MAX_CODE_LEN {
        code = (code + table.count[len - 1]) << 1;
        table.first[len] = code;
        table.offset[len] = next as u16;
        let mut symbol = 0;
        while symbol < 257 {
            if CODE_LENGTHS[symbol] as usize == len {
                table.symbols[next] = symbol as u16;
                next += 1;
            }
            symbol += 1;
        }
        len += 1;
    }
    table
}

static CANONICAL: Canonical = build_canonical();

/// Why a Huffman-coded string was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum HuffmanError {
    #[error("the end-of-string symbol appears inside a Huffman-coded string")]
    EosInString,
    #[error("Huffman padding is longer than 7 bits")]
    PaddingTooLong,
    #[error("Huffman padding is not a prefix of the end-of-string code")]
    InvalidPadding,
}

/// Decodes a complete Huffman-coded string, appending the octets to `out`.
pub fn decode(input: &[u8], out: &mut Vec<u8>) -> Result<(), HuffmanError> {
    let table = &CANONICAL;
    let mut code = 0u32;
    let mut len = 0usize;
    // Every code is at least 5 bits, so the output is at most 8/5 of the input.
    out.reserve(input.len() * 8 / 5);
    for &byte in input {
        for shift in (0..8).rev() {
            code = (code << 1) | u32::from((byte >> shift) & 1);
            len += 1;
            let index = code.wrapping_sub(table.first[len]);
            if code >= table.first[len] && index < table.count[len] {
                let symbol = table.symbols[usize::from(table.offset[len]) + index as usize];
                if symbol == EOS {
                    return Err(HuffmanError::EosInString);
                }
                // Symbols other than EOS are 0..=255.
                out.push(symbol as u8);
                code = 0;
                len = 0;
            } else if len >= MAX_CODE_LEN {
                // Unreachable with a complete code, kept as a guard.
                return Err(HuffmanError::EosInString);
            }
        }
    }
    if len > 7 {
        return Err(HuffmanError::PaddingTooLong);
    }
    // The EOS code is all ones, so valid padding is all ones.
    if code != (1u32 << len) - 1 {
        return Err(HuffmanError::InvalidPadding);
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod tests {
    use super::*;

    /// The code of each symbol, derived from the canonical tables (test-side
    /// encoder used to cross-check the tables against an independent decoder).
    fn code_of(symbol: usize) -> (u32, u8) {
        let table = &CANONICAL;
        let len = CODE_LENGTHS[symbol] as usize;
        let start = usize::from(table.offset[len]);
        let rank = table.symbols[start..start + table.count[len] as usize]
            .iter()
            .position(|&s| usize::from(s) == symbol)
            .unwrap();
        (table.first[len] + rank as u32, len as u8)
    }

    /// Huffman-encodes `input` (test helper).
    pub(crate) fn encode(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut acc = 0u64;
        let mut bits = 0u32;
        for &byte in input {
            let (code, len) = code_of(usize::from(byte));
            acc = (acc << len) | u64::from(code);
            bits += u32::from(len);
            while bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
            }
        }
        if bits > 0 {
            let pad = 8 - bits;
            out.push(((acc << pad) | ((1 << pad) - 1)) as u8);
        }
        out
    }

    fn decoded(input: &[u8]) -> Result<Vec<u8>, HuffmanError> {
        let mut out = Vec::new();
        decode(input, &mut out).map(|()| out)
    }

    #[test]
    fn the_code_is_complete_and_matches_the_rfc_anchor_codes() {
        // Kraft equality: a complete prefix code.
        let kraft: u64 = CODE_LENGTHS.iter().map(|&l| 1u64 << (30 - l)).sum();
        assert_eq!(kraft, 1 << 30);
        assert_eq!(code_of(b'0' as usize), (0x0, 5));
        assert_eq!(code_of(b'a' as usize), (0x3, 5));
        assert_eq!(code_of(b' ' as usize), (0x14, 6));
        assert_eq!(code_of(0), (0x1ff8, 13));
        assert_eq!(code_of(255), (0x3ffffee, 26));
        assert_eq!(code_of(256), (0x3fffffff, 30));
    }

    #[test]
    fn rfc_7541_appendix_c_examples_decode() {
        let www = [
            0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff,
        ];
        assert_eq!(decoded(&www).unwrap(), b"www.example.com");
        assert_eq!(
            decoded(&[0xa8, 0xeb, 0x10, 0x64, 0x9c, 0xbf]).unwrap(),
            b"no-cache"
        );
        assert_eq!(encode(b"www.example.com"), www);
    }

    #[test]
    fn every_byte_value_round_trips_and_an_independent_decoder_agrees() {
        let all: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        let encoded = encode(&all);
        assert_eq!(decoded(&encoded).unwrap(), all);
        let mut other = loona_hpack::huffman::HuffmanDecoder::new();
        assert_eq!(other.decode(&encoded).unwrap(), all);
        for len in 0..40 {
            let text: Vec<u8> = (0..len)
                .map(|i| b"/v1beta1.Devic-Plug:_x"[i % 22])
                .collect();
            assert_eq!(decoded(&encode(&text)).unwrap(), text);
        }
    }

    #[test]
    fn bad_padding_and_eos_are_rejected() {
        // '0' is 00000; padding with zeros instead of ones.
        assert_eq!(decoded(&[0b0000_0000]), Err(HuffmanError::InvalidPadding));
        // A full byte of ones after a symbol boundary is 8 bits of padding.
        assert_eq!(decoded(&[0x07, 0xff]), Err(HuffmanError::PaddingTooLong));
        // 32 one bits contain the EOS code.
        assert_eq!(decoded(&[0xff; 4]), Err(HuffmanError::EosInString));
        assert_eq!(decoded(&[]).unwrap(), b"");
    }
}
