//! The client against a scripted fake device: retries, reconnects, typed errors.

use std::time::Duration;

use edgenas_device::protocol::{DeviceInfo, ErrorCode, Request, Response, PROTOCOL_VERSION};
use edgenas_device::transport::{FakeDevice, FakeReply};
use edgenas_device::{Client, DeviceError, RetryPolicy};

fn info(protocol: u8) -> DeviceInfo {
    DeviceInfo {
        protocol,
        agent_version: "0.1.0".into(),
        runtime: "tract 0.23.9".into(),
        os: "linux".into(),
        arch: "x86_64".into(),
        cpu: "fake".into(),
        cores: 1,
        threads: 1,
        max_model_bytes: 1000,
    }
}

fn fast() -> RetryPolicy {
    RetryPolicy {
        attempts: 4,
        backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(2),
        ..RetryPolicy::default()
    }
}

fn hello() -> (&'static str, fn(&Request) -> bool) {
    ("hello", |r| matches!(r, Request::Hello { .. }))
}

fn is_bench(r: &Request) -> bool {
    matches!(r, Request::Bench { .. })
}

#[test]
fn timeouts_and_corruption_are_retried() {
    let (h, hm) = hello();
    let fake = FakeDevice::new()
        .expect(h, hm, FakeReply::Respond(Response::Hello(info(PROTOCOL_VERSION))))
        .expect("ping", |r| matches!(r, Request::Ping { .. }), FakeReply::Timeout)
        .expect(h, hm, FakeReply::Respond(Response::Hello(info(PROTOCOL_VERSION))))
        .expect("ping", |r| matches!(r, Request::Ping { .. }), FakeReply::Corrupt)
        .expect("ping", |r| matches!(r, Request::Ping { .. }), FakeReply::Respond(Response::Pong { nonce: 42 }));
    let mut c = Client::new(Box::new(fake), "", fast());
    c.hello().unwrap();
    c.ping().unwrap();
    assert_eq!(c.stats.retries, 2);
    assert_eq!(c.stats.reconnects, 1, "a timeout resets the connection, a CRC error does not");
}

#[test]
fn device_errors_are_not_retried() {
    let (h, hm) = hello();
    let fake = FakeDevice::new().expect(h, hm, FakeReply::Respond(Response::Hello(info(PROTOCOL_VERSION)))).expect(
        "bench",
        is_bench,
        FakeReply::Respond(Response::Error { code: ErrorCode::RunFailed, message: "boom".into() }),
    );
    let mut c = Client::new(Box::new(fake), "", fast());
    c.hello().unwrap();
    let e = c.bench(1, 0, 1).unwrap_err();
    assert!(matches!(e, DeviceError::Device { code: ErrorCode::RunFailed, .. }), "{e}");
    assert_eq!(c.stats.retries, 0);
}

#[test]
fn version_mismatch_stops() {
    let (h, hm) = hello();
    let fake = FakeDevice::new().expect(h, hm, FakeReply::Respond(Response::Hello(info(PROTOCOL_VERSION + 1))));
    let mut c = Client::new(Box::new(fake), "", fast());
    let e = c.hello().unwrap_err();
    assert!(matches!(e, DeviceError::VersionMismatch { .. }), "{e}");
    assert!(!e.is_retryable());
}

#[test]
fn retries_give_up_with_the_last_error() {
    let (h, hm) = hello();
    let mut fake = FakeDevice::new().expect(h, hm, FakeReply::Respond(Response::Hello(info(PROTOCOL_VERSION))));
    for _ in 0..4 {
        fake = fake.expect("ping", |r| matches!(r, Request::Ping { .. }), FakeReply::Corrupt);
    }
    let mut c = Client::new(Box::new(fake), "", fast());
    c.hello().unwrap();
    let e = c.ping().unwrap_err();
    assert!(matches!(e, DeviceError::Protocol(_)), "{e}");
    assert_eq!(c.stats.retries, 3);
}

#[test]
fn measure_reloads_a_model_the_device_lost() {
    let (h, hm) = hello();
    let load = |r: &Request| matches!(r, Request::Load { offset: 0, .. });
    let fake = FakeDevice::new()
        .expect(h, hm, FakeReply::Respond(Response::Hello(info(PROTOCOL_VERSION))))
        .expect("load", load, FakeReply::Respond(Response::Loaded { input: vec![1], output: vec![1] }))
        // the agent restarted: the connection drops, then it has forgotten the model
        .expect("bench", is_bench, FakeReply::Disconnect)
        .expect(h, hm, FakeReply::Respond(Response::Hello(info(PROTOCOL_VERSION))))
        .expect(
            "bench",
            is_bench,
            FakeReply::Respond(Response::Error { code: ErrorCode::UnknownModel, message: "no model".into() }),
        )
        .expect("load", load, FakeReply::Respond(Response::Loaded { input: vec![1], output: vec![1] }))
        .expect("bench", is_bench, FakeReply::Respond(Response::Bench { durations_ns: vec![5, 6, 7] }))
        .expect("unload", |r| matches!(r, Request::Unload { .. }), FakeReply::Respond(Response::Ack));
    let mut c = Client::new(Box::new(fake), "", fast());
    c.hello().unwrap();
    assert_eq!(c.measure(&[1, 2, 3], 0, 3).unwrap(), vec![5, 6, 7]);
    assert_eq!(c.stats.reloads, 1);
    assert_eq!(c.stats.reconnects, 1);
}

#[test]
fn large_models_are_sent_in_chunks() {
    let (h, hm) = hello();
    let bytes = vec![7u8; 70_000];
    let fake = FakeDevice::new()
        .expect(h, hm, FakeReply::Respond(Response::Hello(info(PROTOCOL_VERSION))))
        .expect(
            "chunk 0",
            |r| matches!(r, Request::Load { offset: 0, total: 70_000, data, .. } if data.len() == 32_768),
            FakeReply::Respond(Response::Ack),
        )
        .expect("chunk 1", |r| matches!(r, Request::Load { offset: 32_768, .. }), FakeReply::Respond(Response::Ack))
        .expect(
            "chunk 2",
            |r| matches!(r, Request::Load { offset: 65_536, data, .. } if data.len() == 70_000 - 65_536),
            FakeReply::Respond(Response::Loaded { input: vec![1], output: vec![1] }),
        );
    let mut c = Client::new(Box::new(fake), "", fast());
    c.hello().unwrap();
    c.load(&bytes).unwrap();
}
