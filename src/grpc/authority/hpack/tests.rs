use super::*;

type Fields = Vec<(Vec<u8>, Vec<u8>)>;

fn decode_all(decoder: &mut Decoder, block: &[u8]) -> Result<Fields, HpackError> {
    let mut fields = Vec::new();
    decoder.decode(block, |n, v, _| fields.push((n.to_vec(), v.to_vec())))?;
    Ok(fields)
}

fn fields(list: &[(&str, &str)]) -> Fields {
    list.iter()
        .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect()
}

fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

/// Small deterministic generator (xorshift64*) for the randomised tests.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn rfc_7541_request_examples_decode_with_a_shared_dynamic_table() {
    let mut decoder = Decoder::new(1 << 20);
    let first = hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d");
    let expected = [(":method", "GET"), (":scheme", "http"), (":path", "/")];
    let mut want = fields(&expected);
    want.push((b":authority".to_vec(), b"www.example.com".to_vec()));
    assert_eq!(decode_all(&mut decoder, &first).unwrap(), want);
    assert_eq!(decoder.table.size, 57);

    let second = hex("8286 84be 5808 6e6f 2d63 6163 6865");
    want.push((b"cache-control".to_vec(), b"no-cache".to_vec()));
    assert_eq!(decode_all(&mut decoder, &second).unwrap(), want);
    assert_eq!(decoder.table.size, 110);

    let third = hex("8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65");
    let want = fields(&[
        (":method", "GET"),
        (":scheme", "https"),
        (":path", "/index.html"),
        (":authority", "www.example.com"),
        ("custom-key", "custom-value"),
    ]);
    assert_eq!(decode_all(&mut decoder, &third).unwrap(), want);
    assert_eq!(decoder.table.size, 164);
}

#[test]
fn rfc_7541_huffman_request_example_decodes() {
    let mut decoder = Decoder::new(1 << 20);
    let block = hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff");
    let decoded = decode_all(&mut decoder, &block).unwrap();
    assert_eq!(
        decoded[3],
        (b":authority".to_vec(), b"www.example.com".to_vec())
    );
}

#[test]
fn blocks_from_an_independent_indexing_encoder_decode_identically_across_a_connection() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut encoder = loona_hpack::Encoder::new();
    let mut decoder = Decoder::new(1 << 20);
    let names = [
        "x-a",
        "x-b",
        "content-type",
        ":path",
        "user-agent",
        "x-long",
    ];
    for _ in 0..300 {
        let count = 1 + rng.below(8);
        let list: Fields = (0..count)
            .map(|_| {
                let name = names[rng.below(names.len())].as_bytes().to_vec();
                // Mostly short values, sometimes bigger than the whole table.
                let len = if rng.below(10) == 0 {
                    5000
                } else {
                    rng.below(300)
                };
                let value = vec![b'a' + rng.below(3) as u8; len];
                (name, value)
            })
            .collect();
        let block = encoder.encode(list.iter().map(|(n, v)| (n.as_slice(), v.as_slice())));
        assert_eq!(decode_all(&mut decoder, &block).unwrap(), list);
    }
}

#[test]
fn table_size_updates_evict_and_are_bounded() {
    let mut decoder = Decoder::new(1 << 20);
    decode_all(&mut decoder, &hex("4003 6162 6303 7879 7a")).unwrap();
    assert_eq!(
        decode_all(&mut decoder, &[0xbe]).unwrap(),
        fields(&[("abc", "xyz")])
    );
    // Size update to 0 empties the table; index 62 is then unknown.
    assert_eq!(decode_all(&mut decoder, &[0x20, 0x82]).unwrap().len(), 1);
    assert_eq!(
        decode_all(&mut decoder, &[0xbe]),
        Err(HpackError::BadIndex(62))
    );
    // Above the server's limit, or after a field: rejected.
    let mut too_big = vec![];
    encode_integer(MAX_DYNAMIC_TABLE_SIZE + 1, 5, 0x20, &mut too_big);
    assert_eq!(
        decode_all(&mut decoder, &too_big),
        Err(HpackError::TableSizeTooLarge(MAX_DYNAMIC_TABLE_SIZE + 1))
    );
    assert_eq!(
        decode_all(&mut decoder, &[0x82, 0x20]),
        Err(HpackError::LateTableSizeUpdate)
    );
}

#[test]
fn the_stateless_encoder_is_understood_by_an_independent_decoder() {
    let long_name = "x-".repeat(100);
    let long_value = "v".repeat(70_000);
    let list = [
        (":method", "POST"),
        (":scheme", "http"),
        (":authority", "localhost"),
        (":path", "/v1beta1.DevicePlugin/Allocate"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
        (long_name.as_str(), long_value.as_str()),
        ("", ""),
    ];
    let mut block = Vec::new();
    for (name, value) in list {
        encode_field(
            name.as_bytes(),
            value.as_bytes(),
            Indexing::Allowed,
            &mut block,
        );
    }
    encode_field(b"authorization", b"secret", Indexing::Never, &mut block);
    // Whole static matches are single index octets.
    assert_eq!(&block[..2], &[0x83, 0x86]);
    let mut want = fields(&list);
    want.push((b"authorization".to_vec(), b"secret".to_vec()));
    let mut other = loona_hpack::Decoder::new();
    assert_eq!(other.decode(&block).unwrap(), want);
    let mut ours = Decoder::new(1 << 20);
    let mut marks = Vec::new();
    ours.decode(&block, |_, _, indexing| marks.push(indexing))
        .unwrap();
    assert_eq!(marks.last(), Some(&Indexing::Never));
    // Nothing entered the dynamic table.
    assert_eq!(ours.table.size, 0);
}

#[test]
fn header_lists_over_the_limit_are_refused() {
    let mut block = Vec::new();
    encode_field(b"x-big", &[b'a'; 200], Indexing::Allowed, &mut block);
    let mut decoder = Decoder::new(200);
    assert_eq!(
        decode_all(&mut decoder, &block),
        Err(HpackError::HeaderListTooLarge(200))
    );
    // Cheap indexed references cannot amplify past the limit either.
    let mut decoder = Decoder::new(1000);
    let mut block = Vec::new();
    encode_integer(0, 6, 0x40, &mut block);
    encode_string(b"x-amp", &mut block);
    encode_string(&[b'a'; 100], &mut block);
    block.extend(std::iter::repeat_n(0xbe, 100));
    assert_eq!(
        decode_all(&mut decoder, &block),
        Err(HpackError::HeaderListTooLarge(1000))
    );
}

#[test]
fn malformed_blocks_fail_without_panicking() {
    let mut decoder = Decoder::new(1 << 20);
    assert_eq!(
        decode_all(&mut decoder, &[0x80]),
        Err(HpackError::BadIndex(0))
    );
    assert_eq!(
        decode_all(&mut decoder, &[0xff]),
        Err(HpackError::BadInteger)
    );
    assert_eq!(
        decode_all(&mut decoder, &[0xff; 12]),
        Err(HpackError::BadInteger)
    );
    let mut overlong = vec![0xff];
    overlong.extend([0x80; 40]);
    assert_eq!(
        decode_all(&mut decoder, &overlong),
        Err(HpackError::BadInteger)
    );
    assert_eq!(
        decode_all(&mut decoder, &[0x00, 0x05, b'a']),
        Err(HpackError::TruncatedString)
    );
    assert!(matches!(
        decode_all(&mut decoder, &[0x00, 0x81, 0x00, 0x00]),
        Err(HpackError::Huffman(_))
    ));
    let mut rng = Rng(42);
    for _ in 0..20_000 {
        let len = rng.below(40);
        let garbage: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let _ = decode_all(&mut decoder, &garbage);
    }
}

#[test]
fn integers_round_trip_at_prefix_boundaries() {
    for prefix in 1..=8 {
        for value in [
            0,
            1,
            (1 << prefix) - 2,
            (1 << prefix) - 1,
            1 << prefix,
            127,
            128,
            1337,
            1 << 20,
        ] {
            let mut out = Vec::new();
            encode_integer(value, prefix, 0, &mut out);
            assert_eq!(decode_integer(&out, prefix).unwrap(), (value, out.len()));
        }
    }
}
