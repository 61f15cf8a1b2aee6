//! The wire protocol: inline commands, multibulk framing, Redis's protocol errors (reply, then
//! close), limits on lines, bulks and the query buffer. Mirrors Redis's unit/protocol tests.

use std::io::Write;
use std::time::Duration;

use crate::harness::{for_each_shards, wait_for, Conn, Reply, Server};

/// Sends `input` on a fresh connection and checks that the server replies exactly
/// `-<error>\r\n` and closes the connection, while other connections keep working.
#[track_caller]
fn expect_protocol_error(s: &Server, input: &[u8], error: &str) {
    let mut c = s.conn();
    c.write_raw(input).expect("write");
    let got = c.expect_closed();
    assert_eq!(String::from_utf8_lossy(&got), format!("-{error}\r\n"), "after sending {:?}", String::from_utf8_lossy(input));
    // The server keeps serving other clients (PING answers NOAUTH under requirepass).
    let pong = s.conn().cmd(["PING"]);
    assert!(pong == Reply::Simple("PONG".into()) || pong.as_error().starts_with("NOAUTH"), "{pong:?}");
}

#[test]
fn inline_commands() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        c.write_raw(b"PING\r\n").unwrap();
        assert_eq!(c.read(), Reply::Simple("PONG".into()));
        c.write_raw(b"SET a \"b c\"\r\n").unwrap();
        assert_eq!(c.read(), Reply::ok());
        assert_eq!(c.get_str(["GET", "a"]).as_deref(), Some("b c"));
        // A bare \n ends a line too; quotes and escapes as redis-cli sends them.
        c.write_raw(b"set 'k 2' \"x\\ty\\x41\"\nget 'k 2'\n").unwrap();
        assert_eq!(c.read(), Reply::ok());
        assert_eq!(c.read(), Reply::bulk("x\tyA"));
        // Inline and multibulk commands mixed in one write.
        c.write_raw(b"INCR n\r\n*2\r\n$4\r\nINCR\r\n$1\r\nn\r\nINCR n\r\n").unwrap();
        assert_eq!((c.read(), c.read(), c.read()), (Reply::Int(1), Reply::Int(2), Reply::Int(3)));
    });
}

#[test]
fn empty_query_and_negative_multibulk_length_are_skipped() {
    let s = Server::start(&["--shards", "2"]);
    let mut c = s.conn();
    // Redis's "Empty query" and "Negative multibulk length".
    c.write_raw(b"\r\n\r\n*-10\r\n*0\r\nPING\r\n").unwrap();
    assert_eq!(c.read(), Reply::Simple("PONG".into()));
    assert!(c.is_silent_for(Duration::from_millis(100)), "empty commands must not be answered");
}

#[test]
fn multibulk_protocol_errors() {
    let s = Server::start(&["--shards", "2"]);
    // Out of range multibulk length.
    expect_protocol_error(&s, b"*3000000000\r\n", "ERR Protocol error: invalid multibulk length");
    expect_protocol_error(&s, b"*abc\r\n", "ERR Protocol error: invalid multibulk length");
    // Wrong multibulk payload header.
    expect_protocol_error(&s, b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n", "ERR Protocol error: expected '$', got 'f'");
    // Negative multibulk payload length.
    expect_protocol_error(&s, b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$-10\r\n", "ERR Protocol error: invalid bulk length");
    // Out of range multibulk payload length.
    expect_protocol_error(&s, b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$2000000000\r\n", "ERR Protocol error: invalid bulk length");
    // Non-number multibulk payload length.
    expect_protocol_error(&s, b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$blabla\r\n", "ERR Protocol error: invalid bulk length");
    // Multi bulk request not followed by bulk arguments.
    expect_protocol_error(&s, b"*1\r\nfoo\r\n", "ERR Protocol error: expected '$', got 'f'");
    // A bulk over proto-max-bulk-len (512mb by default).
    expect_protocol_error(&s, b"*1\r\n$600000000\r\n", "ERR Protocol error: invalid bulk length");
}

#[test]
fn commands_before_a_protocol_error_are_answered() {
    let s = Server::start(&["--shards", "4"]);
    let mut c = s.conn();
    c.write_raw(b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$3\r\nGET\r\n$1\r\nb\r\n*1\r\nfoo\r\n").unwrap();
    let got = c.expect_closed();
    assert_eq!(String::from_utf8_lossy(&got), "+OK\r\n$-1\r\n-ERR Protocol error: expected '$', got 'f'\r\n");
    assert_eq!(s.conn().get_str(["GET", "a"]).as_deref(), Some("1"));
}

#[test]
fn unbalanced_number_of_quotes() {
    let s = Server::start(&["--shards", "1"]);
    expect_protocol_error(&s, b"set \"\"\"test-key\"\"\" test-value\r\nping\r\n", "ERR Protocol error: unbalanced quotes in request");
    expect_protocol_error(&s, b"set a \"b\r\n", "ERR Protocol error: unbalanced quotes in request");
    expect_protocol_error(&s, b"set a 'b\r\n", "ERR Protocol error: unbalanced quotes in request");
}

#[test]
fn unknown_command_and_wrong_arity_keep_the_connection() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        assert_eq!(c.err(["foo", "a", "b"]), "ERR unknown command 'foo', with args beginning with: 'a' 'b' ");
        assert_eq!(c.err(["foo"]), "ERR unknown command 'foo', with args beginning with: ");
        c.write_raw(b"bar x\r\n").unwrap();
        assert_eq!(c.read(), Reply::Error("ERR unknown command 'bar', with args beginning with: 'x' ".into()));
        // Generic wrong number of args.
        assert_eq!(c.err(["ping", "x", "y", "z"]), "ERR wrong number of arguments for 'ping' command");
        assert_eq!(c.err(["GET"]), "ERR wrong number of arguments for 'get' command");
        assert_eq!(c.err(["set", "k"]), "ERR wrong number of arguments for 'set' command");
        assert_eq!(c.err(["CONFIG", "GET"]), "ERR wrong number of arguments for 'config|get' command");
        assert_eq!(c.err(["CONFIG", "nosuch"]), "ERR unknown subcommand 'nosuch'. Try CONFIG HELP.");
        assert_eq!(c.cmd(["PING"]), Reply::Simple("PONG".into()));
    });
}

#[test]
fn protocol_desync_regression_test() {
    // Redis's test writes the literal word "payload" over and over after each prefix, so no
    // line ever ends: the server must give up after 64KB with a protocol error.
    let s = Server::start(&["--shards", "2"]);
    for (seq, error) in [
        (&b"\x00"[..], "ERR Protocol error: too big inline request"),
        (b"*\x00", "ERR Protocol error: too big mbulk count string"),
        (b"$\x00", "ERR Protocol error: too big inline request"),
    ] {
        let mut c = s.conn();
        let mut w = c.writer_clone();
        let writer = std::thread::spawn(move || {
            let _ = w.write_all(seq);
            for _ in 0..30_000 {
                if w.write_all(b"payload").is_err() {
                    break;
                }
            }
        });
        let got = c.expect_closed();
        let _ = writer.join();
        assert_eq!(String::from_utf8_lossy(&got), format!("-{error}\r\n"), "prefix {seq:?}");
    }
}

#[test]
fn too_big_inline_request() {
    let s = Server::start(&["--shards", "2", "--client-query-buffer-limit", "1mb"]);
    let mut c = s.conn();
    let mut w = c.writer_clone();
    // 4 MB of an inline line that never ends.
    let writer = std::thread::spawn(move || {
        let chunk = vec![b'a'; 64 * 1024];
        for _ in 0..64 {
            if w.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    let got = c.expect_closed();
    let _ = writer.join();
    assert_eq!(String::from_utf8_lossy(&got), "-ERR Protocol error: too big inline request\r\n");
    assert_eq!(s.conn().cmd(["PING"]), Reply::Simple("PONG".into()));
}

#[test]
fn query_buffer_limit_closes_a_client_with_a_partial_big_bulk() {
    let s = Server::start(&["--shards", "2", "--client-query-buffer-limit", "1mb"]);
    // A complete command under the limit is fine.
    let mut ok = s.conn();
    let value = vec![b'v'; 900 * 1024];
    assert_eq!(ok.cmd([b"SET".as_slice(), b"k", &value]), Reply::ok());
    // A 2 MB bulk of which 1.5 MB arrived: the query buffer passed the 1 MB limit.
    let mut c = s.conn();
    let mut w = c.writer_clone();
    let writer = std::thread::spawn(move || {
        let _ = w.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$2097152\r\n");
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..24 {
            if w.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    let got = c.expect_closed();
    let _ = writer.join();
    assert!(got.is_empty(), "the server closes without a reply, got {:?}", String::from_utf8_lossy(&got));
    // Other clients keep being served, and the partial command did nothing.
    assert_eq!(ok.cmd(["PING"]), Reply::Simple("PONG".into()));
    let mut other = s.conn();
    assert_eq!(other.int(["EXISTS", "x"]), 0);
    assert_eq!(other.cmd(["STRLEN", "k"]), Reply::Int(value.len() as i64));
}

/// The query buffer sizes (`qbuf=`) CLIENT LIST reports, by client id.
fn query_buffers(c: &mut Conn) -> Vec<(i64, u64)> {
    let list = c.get_str(["CLIENT", "LIST"]).expect("CLIENT LIST");
    list.lines()
        .map(|l| {
            let field = |name: &str| l.split(' ').find_map(|f| f.strip_prefix(name)).unwrap_or_else(|| panic!("no {name} in {l}")).to_string();
            (field("id=").parse().expect("id"), field("qbuf=").parse().expect("qbuf"))
        })
        .collect()
}

/// Opens `n` clients that each claim a 500 MB bulk and send `mb` MB of it, and waits until the
/// server holds all of it (CLIENT LIST shows the query buffers).
fn clients_holding_partial_bulks(s: &Server, admin: &mut Conn, n: usize, mb: usize) -> Vec<Conn> {
    let chunk = vec![b'x'; 1 << 20];
    let mut clients: Vec<Conn> = (0..n).map(|_| s.conn()).collect();
    let ids: Vec<i64> = clients.iter_mut().map(|c| c.int(["CLIENT", "ID"])).collect();
    for c in &mut clients {
        c.write_raw(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$500000000\r\n").unwrap();
    }
    for _ in 0..mb {
        for c in &mut clients {
            c.write_raw(&chunk).unwrap();
        }
    }
    let held = wait_for(Duration::from_secs(15), || {
        let qbufs = query_buffers(admin);
        ids.iter().all(|id| qbufs.iter().any(|(i, q)| i == id && *q >= (mb << 20) as u64))
    });
    assert!(held, "the server did not read the partial bulks: {:?}", query_buffers(admin));
    clients
}

const RSS_LIMIT: u64 = 200 << 20;

#[test]
fn memory_stays_bounded_after_a_client_claims_a_huge_bulk() {
    let s = Server::start(&["--shards", "2"]);
    let mut admin = s.conn();
    let clients = clients_holding_partial_bulks(&s, &mut admin, 1, 10);
    let rss = s.rss_bytes();
    assert!(rss < RSS_LIMIT, "RSS {} MB while a client holds 10 MB of a claimed 500 MB bulk", rss >> 20);
    drop(clients);
    assert!(wait_for(Duration::from_secs(10), || query_buffers(&mut admin).len() == 1), "the client is gone");
    let rss = s.rss_bytes();
    assert!(rss < RSS_LIMIT, "RSS {} MB after the client left", rss >> 20);
    assert_eq!(admin.int(["DBSIZE"]), 0);
}

#[test]
fn memory_is_released_when_clients_holding_huge_bulks_leave() {
    let s = Server::start(&["--shards", "2"]);
    let mut admin = s.conn();
    let used = |admin: &mut Conn| -> u64 { admin.info("memory")["used_memory"].parse().expect("used_memory") };
    let baseline = used(&mut admin);
    // Rounds of three clients at once, each holding 10 MB of a claimed 500 MB bulk, then
    // leaving: what they held is freed, so nothing adds up over the rounds.
    for round in 0..8 {
        let clients = clients_holding_partial_bulks(&s, &mut admin, 3, 10);
        let held = used(&mut admin);
        assert!(held >= baseline + (30 << 20), "round {round}: used_memory {held} does not count the 30 MB of query buffers");
        drop(clients);
        assert!(wait_for(Duration::from_secs(10), || query_buffers(&mut admin).len() == 1), "the clients are gone");
        let after = used(&mut admin);
        assert!(after < baseline + (8 << 20), "round {round}: used_memory {after} after the clients left (baseline {baseline})");
    }
    // The allocator may keep freed pages, but it must reuse them: the process does not grow
    // by the 30 MB a round brings.
    let rss = s.rss_bytes();
    assert!(rss < 300 << 20, "RSS {} MB after 8 rounds of clients holding 30 MB", rss >> 20);
}

#[test]
fn big_bulks_in_pieces_are_reassembled() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        let value: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut cmd = format!("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n${}\r\n", value.len()).into_bytes();
        cmd.extend_from_slice(&value);
        cmd.extend_from_slice(b"\r\n");
        // Dribble it in uneven pieces.
        for piece in cmd.chunks(77_777) {
            c.write_raw(piece).unwrap();
        }
        assert_eq!(c.read(), Reply::ok());
        assert_eq!(c.cmd(["GET", "big"]), Reply::Bulk(Some(value)));
    });
}

#[test]
fn unauthenticated_clients_cannot_claim_big_requests() {
    let s = Server::start(&["--shards", "1", "--requirepass", "secret"]);
    expect_protocol_error(&s, b"*20\r\n", "ERR Protocol error: unauthenticated multibulk length");
    expect_protocol_error(&s, b"*1\r\n$100000\r\n", "ERR Protocol error: unauthenticated bulk length");
}

#[test]
fn proto_max_bulk_len_can_be_lowered_at_runtime() {
    for_each_shards(&[], |s| {
        let mut admin = s.conn();
        admin.ok(["CONFIG", "SET", "proto-max-bulk-len", "1mb"]);
        // A bulk over the new limit is a protocol error.
        expect_protocol_error(s, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n", "ERR Protocol error: invalid bulk length");
        // Strings cannot grow past it either.
        assert_eq!(admin.err(["SETRANGE", "k", "2000000", "x"]), "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
        let half = "x".repeat(600 * 1024);
        admin.ok(["SET", "k", &half]);
        assert_eq!(admin.err(["APPEND", "k", &half]), "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
        assert_eq!(admin.int(["STRLEN", "k"]), half.len() as i64);
        assert_eq!(
            admin.err(["CONFIG", "SET", "proto-max-bulk-len", "1000"]),
            "ERR CONFIG SET failed (possibly related to argument 'proto-max-bulk-len') - argument must be between 1048576 and 9223372036854775807 inclusive"
        );
    });
}
