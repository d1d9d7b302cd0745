use super::*;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    write_frame(&mut out, kind, flags, stream.to_be_bytes(), &[payload]);
    out
}

fn request(authority: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", "/runtime.v1.RuntimeService/Version"),
        (":authority", authority),
        ("content-type", "application/grpc"),
    ]
    .iter()
    .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
    .collect()
}

/// The frames in `bytes` (after the preface), header blocks decoded.
fn frames(bytes: &[u8]) -> Vec<(u8, u8, Vec<u8>)> {
    assert_eq!(&bytes[..PREFACE.len()], PREFACE);
    let mut at = PREFACE.len();
    let mut out = Vec::new();
    while at < bytes.len() {
        let len = usize::from(bytes[at]) << 16
            | usize::from(bytes[at + 1]) << 8
            | usize::from(bytes[at + 2]);
        out.push((
            bytes[at + 3],
            bytes[at + 4],
            bytes[at + 9..at + 9 + len].to_vec(),
        ));
        at += 9 + len;
    }
    out
}

fn authority_of(decoder: &mut loona_hpack::Decoder<'_>, block: &[u8]) -> String {
    let headers = decoder.decode(block).expect("valid HPACK");
    let (_, v) = headers
        .iter()
        .find(|(n, _)| n.as_slice() == b":authority")
        .expect(":authority");
    String::from_utf8(v.clone()).unwrap()
}

fn rewrite_all(input: &[u8], chunk: usize) -> Vec<u8> {
    let mut rewriter = Rewriter::default();
    let (mut raw, mut out) = (Vec::new(), Vec::new());
    for piece in input.chunks(chunk) {
        raw.extend_from_slice(piece);
        rewriter.feed(&mut raw, &mut out).expect("rewritten");
    }
    assert!(raw.is_empty());
    out
}

#[test]
fn a_percent_encoded_socket_path_becomes_localhost_and_valid_ones_stay() {
    let mut client = loona_hpack::Encoder::new();
    let settings = frame(0x4, 0, 0, &[]);
    let first = client.encode(
        request("tmp%2Fgt%2Fc.sock")
            .iter()
            .map(|(n, v)| (&n[..], &v[..])),
    );
    // The second block leans on the client's dynamic table.
    let second = client.encode(
        request("localhost:1234")
            .iter()
            .map(|(n, v)| (&n[..], &v[..])),
    );
    let data = frame(0x0, END_STREAM, 1, b"\0\0\0\0\x04\x0a\x02v1");
    let mut input = PREFACE.to_vec();
    input.extend(settings.clone());
    input.extend(frame(HEADERS, END_HEADERS, 1, &first));
    input.extend(data.clone());
    input.extend(frame(HEADERS, END_HEADERS | END_STREAM, 3, &second));
    for chunk in [1, 7, input.len()] {
        let out = rewrite_all(&input, chunk);
        let got = frames(&out);
        assert_eq!(got.len(), 4);
        assert_eq!(got[0], (0x4, 0, vec![]), "SETTINGS untouched");
        assert_eq!(
            got[2],
            (0x0, END_STREAM, data[9..].to_vec()),
            "DATA untouched"
        );
        let mut server = loona_hpack::Decoder::new();
        assert_eq!(got[1].0, HEADERS);
        assert_eq!(authority_of(&mut server, &got[1].2), "localhost");
        assert_eq!(got[3].1, END_HEADERS | END_STREAM);
        assert_eq!(authority_of(&mut server, &got[3].2), "localhost:1234");
    }
}

#[test]
fn a_path_authority_split_over_continuation_with_padding_and_priority_is_fixed() {
    let mut client = loona_hpack::Encoder::new();
    let block = client.encode(
        request("/run/cradle/cradle.sock")
            .iter()
            .map(|(n, v)| (&n[..], &v[..])),
    );
    let (a, b) = block.split_at(block.len() / 2);
    let mut payload = vec![3u8]; // pad length
    payload.extend([0, 0, 0, 0, 15]); // priority: no dependency, weight 16
    payload.extend(a);
    payload.extend([0, 0, 0]);
    let mut input = PREFACE.to_vec();
    input.extend(frame(HEADERS, PADDED | PRIORITY | END_STREAM, 1, &payload));
    input.extend(frame(CONTINUATION, END_HEADERS, 1, b));
    let got = frames(&rewrite_all(&input, 5));
    assert_eq!(got.len(), 1);
    let (kind, flags, payload) = &got[0];
    assert_eq!(*kind, HEADERS);
    assert_eq!(*flags, PRIORITY | END_STREAM | END_HEADERS);
    assert_eq!(&payload[..5], &[0, 0, 0, 0, 15]);
    let mut server = loona_hpack::Decoder::new();
    assert_eq!(authority_of(&mut server, &payload[5..]), "localhost");
}

#[test]
fn a_frame_inside_an_open_header_block_is_refused() {
    let mut input = PREFACE.to_vec();
    input.extend(frame(HEADERS, 0, 1, &[0x82]));
    input.extend(frame(0x0, 0, 1, b"x"));
    let mut rewriter = Rewriter::default();
    let mut out = Vec::new();
    let err = rewriter.feed(&mut input, &mut out).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
}
