//! The wire protocol alone: round trips, resynchronization, version checks, and the decoder
//! given arbitrary bytes never panics.

use edgenas_protocol::*;
use proptest::prelude::*;

/// Proptest settings: `cases` cases from a fixed seed, so a run is reproducible and CI cannot
/// fail by chance; set `PROPTEST_RNG_SEED` to explore other inputs.
fn seeded(cases: u32) -> ProptestConfig {
    let mut config = ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() };
    if matches!(config.rng_seed, proptest::test_runner::RngSeed::Random) {
        config.rng_seed = proptest::test_runner::RngSeed::Fixed(20261128);
    }
    config
}

fn all_messages() -> Vec<Message> {
    vec![
        Message::Request(Request::Hello { token: "sesame".into() }),
        Message::Request(Request::Load { model: 3, total: 10, offset: 4, data: vec![1, 2, 3, 4, 5, 6] }),
        Message::Request(Request::Bench { model: 3, warmup: 2, runs: 9 }),
        Message::Request(Request::Unload { model: 3 }),
        Message::Request(Request::Ping { nonce: u64::MAX }),
        Message::Response(Response::Hello(DeviceInfo {
            protocol: PROTOCOL_VERSION,
            agent_version: "0.1.0".into(),
            runtime: "tract 0.23.9".into(),
            os: "linux".into(),
            arch: "aarch64".into(),
            cpu: "Cortex-A72".into(),
            cores: 4,
            threads: 1,
            max_model_bytes: 1 << 24,
        })),
        Message::Response(Response::Ack),
        Message::Response(Response::Loaded { input: vec![1, 1, 28, 28], output: vec![1, 10] }),
        Message::Response(Response::Bench { durations_ns: vec![1, 2, 3, u64::MAX] }),
        Message::Response(Response::Pong { nonce: 7 }),
        Message::Response(Response::Error { code: ErrorCode::TooLarge, message: "too big".into() }),
    ]
}

#[test]
fn every_message_round_trips() {
    for (i, m) in all_messages().into_iter().enumerate() {
        let bytes = encode(i as u32 + 100, &m);
        let frames = decode_all(&bytes);
        assert_eq!(frames, vec![Ok(Frame { id: i as u32 + 100, message: m })]);
    }
}

#[test]
fn byte_by_byte_delivery_decodes() {
    let mut d = Decoder::new();
    let msgs = all_messages();
    let mut got = Vec::new();
    for (i, m) in msgs.iter().enumerate() {
        for b in encode(i as u32, m) {
            d.push(&[b]);
            while let Some(f) = d.next_frame() {
                got.push(f.unwrap().message);
            }
        }
    }
    assert_eq!(got, msgs);
}

#[test]
fn resynchronizes_after_garbage_and_corruption() {
    let a = encode(1, &Message::Request(Request::Ping { nonce: 1 }));
    let mut b = encode(2, &Message::Request(Request::Ping { nonce: 2 }));
    let c = encode(3, &Message::Request(Request::Ping { nonce: 3 }));
    let n = b.len();
    b[n / 2] ^= 0x40; // corrupt frame 2
    let mut stream = vec![0xED, 0x00, 0x13, 0xED, 0x9A, 0xFF]; // garbage, including a false magic
    stream.extend_from_slice(&a);
    stream.extend_from_slice(&[0x9A, 0xED]);
    stream.extend_from_slice(&b);
    stream.extend_from_slice(&c);
    let ok: Vec<u32> = decode_all(&stream).into_iter().filter_map(|f| f.ok()).map(|f| f.id).collect();
    assert_eq!(ok, vec![1, 3], "frames 1 and 3 survive, corrupted frame 2 is dropped");
    assert!(decode_all(&stream).iter().any(|f| f == &Err(DecodeError::Crc)));
}

#[test]
fn other_protocol_version_is_reported() {
    let bytes = encode_with_version(PROTOCOL_VERSION + 1, 9, &Message::Response(Response::Ack));
    assert_eq!(decode_all(&bytes), vec![Err(DecodeError::Version { got: PROTOCOL_VERSION + 1, id: 9 })]);
}

#[test]
fn a_stale_partial_frame_can_be_skipped() {
    // header claiming 500 payload bytes that never come, then a good frame
    let mut bytes = encode(1, &Message::Request(Request::Ping { nonce: 1 }));
    bytes[8..12].copy_from_slice(&500u32.to_le_bytes());
    bytes.truncate(14);
    let good = encode(2, &Message::Request(Request::Ping { nonce: 2 }));
    let mut d = Decoder::new();
    d.push(&bytes);
    d.push(&good);
    assert_eq!(d.next_frame(), None, "waits for the 500 bytes");
    d.skip_stale();
    let f = d.next_frame().unwrap().unwrap();
    assert_eq!(f.id, 2);
}

#[test]
fn noise_that_starts_with_the_magic_does_not_hide_the_next_frame() {
    // the input proptest found: the noise's length field is the real frame's id (77 bytes)
    let mut bytes = vec![0xED, 0x9A, 0, 0];
    bytes.extend(encode(77, &Message::Request(Request::Ping { nonce: 0 })));
    let mut d = Decoder::new();
    d.push(&bytes);
    assert_eq!(d.next_frame(), None, "a live decoder waits for the 77 bytes");
    d.skip_stale();
    assert_eq!(d.next_frame().unwrap().unwrap().id, 77);
    // a finished capture treats its end as the quiet spell
    let frames = decode_all(&bytes);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].as_ref().unwrap().message, Message::Request(Request::Ping { nonce: 0 }));
}

#[test]
fn oversized_length_is_rejected_without_waiting() {
    let mut bytes = encode(1, &Message::Response(Response::Ack));
    bytes[8..12].copy_from_slice(&(u32::MAX).to_le_bytes());
    let mut d = Decoder::new();
    d.push(&bytes);
    assert!(matches!(d.next_frame(), Some(Err(DecodeError::Length(_)))));
}

#[test]
fn bad_payload_is_a_typed_error() {
    // a valid frame whose payload is too short for its kind
    let mut bytes = encode(5, &Message::Request(Request::Unload { model: 1 }));
    // rewrite as kind Bench (needs 12 bytes, has 4) and fix the CRC
    bytes[3] = 0x03;
    let n = bytes.len();
    let crc = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC).checksum(&bytes[2..n - 4]);
    bytes[n - 4..].copy_from_slice(&crc.to_le_bytes());
    assert!(matches!(decode_all(&bytes)[0], Err(DecodeError::Payload { id: 5, .. })));
}

proptest! {
    #![proptest_config(seeded(2000))]

    /// Arbitrary bytes never panic the decoder, and it always terminates.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let mut d = Decoder::new();
        d.push(&bytes);
        let mut n = 0;
        while d.next_frame().is_some() {
            n += 1;
            prop_assert!(n <= bytes.len() + 1);
        }
    }

    /// Well-framed frames (valid CRC) of any kind around arbitrary payloads: the message
    /// decoder answers with a message or a typed error, never a panic.
    #[test]
    fn arbitrary_payloads_with_valid_crc_never_panic(
        kind in prop_oneof![Just(0x01u8), Just(0x02), Just(0x03), Just(0x04), Just(0x05), Just(0x81), Just(0x82), Just(0x83), Just(0x84), Just(0x85), Just(0xE0), any::<u8>()],
        payload in proptest::collection::vec(any::<u8>(), 0..256),
        id in any::<u32>(),
    ) {
        let frames = decode_all(&encode_raw(PROTOCOL_VERSION, kind, id, &payload));
        prop_assert_eq!(frames.len(), 1);
        match &frames[0] {
            Ok(f) => {
                prop_assert_eq!(f.id, id);
                // what decodes re-encodes to the same bytes
                prop_assert_eq!(encode(id, &f.message), encode_raw(PROTOCOL_VERSION, kind, id, &payload));
            }
            Err(DecodeError::Payload { id: got, .. }) => prop_assert_eq!(*got, id),
            Err(e) => prop_assert!(false, "unexpected error {e:?}"),
        }
    }

    /// Valid frames embedded in noise are still found.
    #[test]
    fn frames_survive_surrounding_noise(pre in proptest::collection::vec(any::<u8>(), 0..64), nonce in any::<u64>()) {
        let mut bytes = pre.clone();
        bytes.extend_from_slice(&encode(77, &Message::Request(Request::Ping { nonce })));
        let found = decode_all(&bytes).into_iter().filter_map(|f| f.ok()).any(|f| f.id == 77 && f.message == Message::Request(Request::Ping { nonce }));
        prop_assert!(found);
    }

    /// Bit flips in a frame never yield a different valid frame silently (CRC catches them).
    #[test]
    fn single_bit_flips_are_detected(pos in 2usize..28, bit in 0u8..8) {
        let bytes = encode(1, &Message::Request(Request::Bench { model: 1, warmup: 2, runs: 3 }));
        let mut bad = bytes.clone();
        let pos = pos.min(bad.len() - 1);
        bad[pos] ^= 1 << bit;
        for f in decode_all(&bad).into_iter().flatten() {
            prop_assert_eq!(f.message, Message::Request(Request::Bench { model: 1, warmup: 2, runs: 3 }));
        }
    }
}
