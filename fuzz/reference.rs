//! `loona-hpack` as the independent HPACK implementation of the differential
//! targets. Shared by the fuzz targets and the corpus replay test
//! (`tests/fuzz_corpus.rs`), so both check exactly the same thing.

use ascend_device_plugin::fuzzing::ReferenceHpack;

/// One connection's decoder and encoder. The dynamic table may not grow past
/// 4,096 octets, the size the plugin's HTTP/2 server allows.
pub struct Loona {
    decoder: loona_hpack::Decoder<'static>,
    encoder: loona_hpack::Encoder<'static>,
}

impl Loona {
    pub fn new() -> Self {
        let mut decoder = loona_hpack::Decoder::new();
        decoder.set_max_allowed_table_size(4096);
        Self {
            decoder,
            encoder: loona_hpack::Encoder::new(),
        }
    }
}

impl ReferenceHpack for Loona {
    fn decode(&mut self, block: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>, String> {
        self.decoder.decode(block).map_err(|e| format!("{e:?}"))
    }

    fn encode(&mut self, fields: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
        self.encoder
            .encode(fields.iter().map(|(n, v)| (n.as_slice(), v.as_slice())))
    }

    fn huffman(&mut self, coded: &[u8]) -> Result<Vec<u8>, String> {
        loona_hpack::huffman::HuffmanDecoder::new()
            .decode(coded)
            .map_err(|e| format!("{e:?}"))
    }
}
