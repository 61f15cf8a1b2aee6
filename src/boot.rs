//! Startup: logging, the shard threads (one monoio runtime each, pinned), the coordinator,
//! listening sockets, signals.
//!
//! Each shard builds its io_uring ring with SINGLE_ISSUER and DEFER_TASKRUN (see DESIGN.md,
//! "Runtime"). If the ring cannot be set up (seccomp EPERM, ENOSYS, memlock), the server logs one
//! line and runs every shard on monoio's epoll driver instead; INFO shows which.

use std::net::{SocketAddr, TcpListener};
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use monoio::time::TimeDriver;
use monoio::{IoUringDriver, LegacyDriver, RuntimeBuilder};
use tracing_subscriber::{reload, EnvFilter};

use crate::config::{Config, IoDriverChoice, LogLevel};
use crate::server::{ClientInfo, Server};
use crate::shard::{Mailbox, Node};

/// A startup failure, naming the shard (if any) and the cause.
#[derive(Debug)]
pub struct ServerError(pub String);

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ServerError {}

type FilterHandle = reload::Handle<EnvFilter, tracing_subscriber::Registry>;
static LOG_FILTER: OnceLock<FilterHandle> = OnceLock::new();

fn filter_for(level: LogLevel) -> EnvFilter {
    // Redis's levels onto tracing's: verbose is our debug detail, notice our info.
    let l = match level {
        LogLevel::Debug => "trace",
        LogLevel::Verbose => "debug",
        LogLevel::Notice => "info",
        LogLevel::Warning => "warn",
        LogLevel::Nothing => "off",
    };
    EnvFilter::new(l)
}

pub fn init_logging(cfg: &Config) -> Result<(), ServerError> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let (filter, handle) = reload::Layer::new(filter_for(cfg.loglevel));
    let _ = LOG_FILTER.set(handle);
    let registry = tracing_subscriber::registry().with(filter);
    if cfg.logfile.is_empty() {
        let _ = registry.with(tracing_subscriber::fmt::layer().with_writer(std::io::stdout).with_ansi(false)).try_init();
    } else {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&cfg.logfile)
            .map_err(|e| ServerError(format!("Can't open the log file {}: {e}", cfg.logfile)))?;
        let _ = registry.with(tracing_subscriber::fmt::layer().with_writer(std::sync::Mutex::new(file)).with_ansi(false)).try_init();
    }
    Ok(())
}

/// CONFIG SET loglevel takes effect at once.
pub fn apply_loglevel(cfg: &Config) {
    if let Some(h) = LOG_FILTER.get() {
        let _ = h.reload(filter_for(cfg.loglevel));
    }
}

/// The listening sockets, so exit can stop them listening first (see [`exit_now`]).
static LISTEN_FDS: std::sync::OnceLock<Vec<std::os::fd::RawFd>> = std::sync::OnceLock::new();

/// Ends the process now (SHUTDOWN, signals). The listening sockets are shut down first: an
/// io_uring accept still pending holds its socket until the kernel tears the ring down, after
/// the process has exited, and a server restarted at once on the same port would find it
/// still listening ("Address already in use").
pub fn exit_now(code: i32) -> ! {
    for &fd in LISTEN_FDS.get().map(Vec::as_slice).unwrap_or_default() {
        // SAFETY: shutdown on a descriptor this process opened and never closes before exit.
        unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
    }
    std::process::exit(code)
}

/// CPUs this process may run on.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: sched_getaffinity fills the zeroed cpu_set_t we own.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0 {
            let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize).filter(|&c| libc::CPU_ISSET(c, &set)).collect();
            if !cpus.is_empty() {
                return cpus;
            }
        }
    }
    (0..std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)).collect()
}

fn pin_to(cpu: usize) {
    // SAFETY: sched_setaffinity with a cpu_set_t we own; failure only means no pinning.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// Resolves `bind` entries into addresses; a leading '-' marks an address that may be missing.
fn bind_addrs(cfg: &Config) -> Vec<(SocketAddr, bool)> {
    let mut out = Vec::new();
    for b in &cfg.bind {
        let (optional, host) = match b.strip_prefix('-') {
            Some(h) => (true, h),
            None => (false, b.as_str()),
        };
        let host = match host {
            "*" => "0.0.0.0",
            "::*" => "::",
            h => h,
        };
        let text = if host.contains(':') { format!("[{host}]:{}", cfg.port) } else { format!("{host}:{}", cfg.port) };
        if let Ok(a) = text.parse() {
            out.push((a, optional));
        }
    }
    out
}

/// One listening socket with SO_REUSEPORT, so every shard can accept on the same port.
fn listen_reuseport(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let domain = if addr.is_ipv6() { Domain::IPV6 } else { Domain::IPV4 };
    let s = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    s.bind(&addr.into())?;
    s.listen(backlog as i32)?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

/// Fails if something else already listens on `addr`: SO_REUSEPORT would otherwise let us
/// silently share the port with another process of the same user.
fn check_port_free(addr: SocketAddr) -> std::io::Result<()> {
    use socket2::{Domain, Protocol, Socket, Type};
    let domain = if addr.is_ipv6() { Domain::IPV6 } else { Domain::IPV4 };
    let s = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_reuse_address(true)?;
    s.bind(&addr.into())
}

pub fn run(cfg: Config) -> Result<(), ServerError> {
    let cpus = allowed_cpus();
    let nshards = if cfg.shards == 0 { cpus.len().max(1) } else { cfg.shards };
    let driver = cfg.io_driver;
    let backlog = cfg.tcp_backlog;

    // Listening sockets first, so a busy port fails startup before anything else starts.
    let mut addrs = Vec::new();
    for (addr, optional) in bind_addrs(&cfg) {
        match check_port_free(addr) {
            Ok(()) => addrs.push(addr),
            Err(e) if optional && e.kind() != std::io::ErrorKind::AddrInUse => {
                tracing::debug!("skipping optional bind address {addr}: {e}");
            }
            Err(e) => return Err(ServerError(format!("Could not create server TCP listening socket {addr}: {e}"))),
        }
    }
    if addrs.is_empty() {
        return Err(ServerError("Failed listening on any bind address".into()));
    }
    let mut listeners: Vec<Vec<TcpListener>> = Vec::new();
    for _ in 0..nshards {
        let mut mine = Vec::new();
        for &a in &addrs {
            mine.push(listen_reuseport(a, backlog).map_err(|e| ServerError(format!("Could not create server TCP listening socket {a}: {e}")))?);
        }
        listeners.push(mine);
    }
    let _ = LISTEN_FDS.set(listeners.iter().flatten().map(std::os::fd::AsRawFd::as_raw_fd).collect());

    // Before any thread exists, so every thread inherits the mask and only sigwait sees them.
    block_signals();
    crate::stats::calibrate();
    let server = Arc::new(Server::new(cfg, nshards));
    let _ = server.mailboxes.set((0..nshards).map(|_| Arc::new(Mailbox::new())).collect());
    // The AOF's manifest now, so a wrong setup fails before anything serves. The dataset
    // itself loads while the shards serve: clients get -LOADING until it is in.
    let manifest = crate::aof::load::prepare(&server, nshards).map_err(ServerError)?;
    crate::aof::load::begin_loading(&server);
    crate::aof::spawn_fsync_thread(server.clone()).map_err(|e| ServerError(format!("aof fsync thread: {e}")))?;
    let coord = crate::coordinator::spawn(server.clone()).map_err(|e| ServerError(format!("coordinator thread: {e}")))?;
    let _ = server.coordinator.set(coord);

    // Loading runs on its own thread, so SIGTERM is handled meanwhile. It starts before the
    // shard threads: its Install messages wait in their mailboxes until they run, and no
    // thread is created once shards sit in io_uring_enter (which valgrind, not knowing it
    // blocks, runs holding its big lock: instr-count.sh would never see loading end).
    let loader = server.clone();
    std::thread::Builder::new()
        .name("loader".into())
        .spawn(move || match crate::aof::load::load_dataset(&loader, nshards, manifest) {
            Ok(cores) => install(&loader, cores),
            Err(e) => {
                tracing::error!("{e}");
                eprintln!("{e}");
                exit_now(1);
            }
        })
        .map_err(|e| ServerError(format!("loader thread: {e}")))?;
    let (ready_tx, ready_rx) = crossbeam_channel::bounded::<Result<&'static str, String>>(nshards);
    let mut handles = Vec::new();
    for (id, mine) in listeners.into_iter().enumerate() {
        let server = server.clone();
        let cpu = cpus[id % cpus.len()];
        let ready = ready_tx.clone();
        let core = crate::shard::ShardCore::new(id, server.databases);
        let h = std::thread::Builder::new()
            .name(format!("shard-{id}"))
            .spawn(move || {
                pin_to(cpu);
                shard_thread(id, server, core, mine, driver, ready);
            })
            .map_err(|e| ServerError(format!("shard {id}: cannot start thread: {e}")))?;
        handles.push(h);
    }
    for _ in 0..nshards {
        match ready_rx.recv() {
            Ok(Ok(name)) => {
                let _ = server.io_driver.set(name);
            }
            Ok(Err(e)) => return Err(ServerError(e)),
            Err(_) => return Err(ServerError("a shard thread ended during startup".into())),
        }
    }
    server.used_memory_startup.store(crate::alloc::used_memory(), Relaxed);
    tracing::info!(shards = nshards, io_driver = server.io_driver.get().copied().unwrap_or("?"), port = server.config().port, "Listening; loading the dataset");
    wait_for_signal(&server);
    Ok(())
}

/// Hands each shard its loaded dataset, then ends the loading state.
fn install(server: &Server, mut cores: Vec<crate::shard::ShardCore>) {
    let loaded: usize = cores.iter_mut().map(|c| c.engine.dataset_bytes()).sum();
    let mut acks = Vec::new();
    for (id, core) in cores.into_iter().enumerate() {
        let (tx, rx) = crossbeam_channel::bounded(1);
        server.mailbox(id).send(crate::shard::Msg::Install(Box::new(core), tx));
        acks.push(rx);
    }
    for rx in acks {
        let _ = rx.recv();
    }
    // What the running process holds that is not the dataset: left out of each shard's
    // maxmemory share (crate::evict). Data commands wait for the end of loading, so none
    // runs before the shards pick it up with the next config generation.
    server.evict_baseline.store(crate::alloc::used_memory().saturating_sub(loaded as u64), Relaxed);
    server.config_generation.fetch_add(1, Relaxed);
    server.loading.store(false, Relaxed);
    tracing::info!(shards = server.nshards, port = server.config().port, "Ready to accept connections tcp");
}

/// Signals are taken by the main thread only (sigwait), so shard threads never see them.
fn block_signals() {
    // SAFETY: building a signal set we own and masking it for this thread (inherited by the
    // threads spawned after this).
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

fn wait_for_signal(server: &Server) {
    let name = loop {
        // SAFETY: sigwait on a set we own, with the signals blocked above.
        let sig = unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::sigaddset(&mut set, libc::SIGINT);
            let mut sig = 0;
            libc::sigwait(&set, &mut sig);
            sig
        };
        let name = if sig == libc::SIGINT { "SIGINT" } else { "SIGTERM" };
        tracing::warn!("Received {name} scheduling shutdown...");
        // With save points, the final snapshot; if it fails Redis keeps running. With the AOF,
        // the segments written out, fsynced and trimmed (every shard held).
        let cfg = server.config();
        if (cfg.save.is_empty() && !cfg.appendonly) || crate::snapshot::shutdown_on_signal(server) {
            break name;
        }
        tracing::warn!("{name} received but errors trying to shut down the server, check the logs for more information");
    };
    tracing::debug!("{name}: exiting");
    server.shutdown.store(true, Relaxed);
    // Every acknowledged write is already in its segment (written before its reply); make the
    // segments durable before exiting.
    {
        match server.aof_sync.sync_all() {
            Ok(()) => tracing::info!("Calling fsync() on the AOF file."),
            Err(e) => tracing::warn!("fsync of the AOF failed at shutdown: {e}"),
        }
    }
    tracing::warn!("shardis is now ready to exit, bye bye...");
    exit_now(0);
}

static URING_FALLBACK_LOGGED: std::sync::Once = std::sync::Once::new();

fn shard_thread(
    id: usize,
    server: Arc<Server>,
    core: crate::shard::ShardCore,
    listeners: Vec<TcpListener>,
    driver: IoDriverChoice,
    ready: crossbeam_channel::Sender<Result<&'static str, String>>,
) {
    if driver != IoDriverChoice::Epoll {
        let mut urb = io_uring::IoUring::builder();
        urb.setup_single_issuer().setup_defer_taskrun();
        match RuntimeBuilder::<IoUringDriver>::new().uring_builder(urb).with_entries(1024).enable_timer().build() {
            Ok(mut rt) => {
                let _ = ready.send(Ok("io_uring"));
                rt.block_on(shard_main(id, server, core, listeners));
                return;
            }
            Err(e) => {
                if driver == IoDriverChoice::IoUring {
                    let _ = ready.send(Err(format!("shard {id}: io_uring requested (io-driver io_uring) but cannot be set up: {e}")));
                    return;
                }
                URING_FALLBACK_LOGGED.call_once(|| {
                    tracing::warn!("io_uring unavailable ({e}); running on epoll. (A seccomp profile that blocks io_uring, an old kernel or a low memlock limit causes this.)");
                });
            }
        }
    }
    match RuntimeBuilder::<LegacyDriver>::new().enable_timer().build() {
        Ok(mut rt) => {
            let _ = ready.send(Ok("epoll"));
            let rt: &mut monoio::Runtime<TimeDriver<LegacyDriver>> = &mut rt;
            rt.block_on(shard_main(id, server, core, listeners));
        }
        Err(e) => {
            let _ = ready.send(Err(format!("shard {id}: cannot start the epoll runtime: {e}")));
        }
    }
}

async fn shard_main(id: usize, server: Arc<Server>, core: crate::shard::ShardCore, listeners: Vec<TcpListener>) {
    let node = Rc::new(Node::new(id, server, core));
    for l in listeners {
        match monoio::net::TcpListener::from_std(l) {
            Ok(l) => {
                monoio::spawn(accept_loop(node.clone(), l));
            }
            Err(e) => tracing::error!(shard = id, "cannot use listening socket: {e}"),
        }
    }
    // Always: the AOF can be turned on at run time (CONFIG SET appendonly yes).
    monoio::spawn(node.clone().run_aof_writer());
    monoio::spawn(crate::snapshot::run_shard(node.clone()));
    let cron_node = node.clone();
    monoio::spawn(async move {
        loop {
            let next = cron_node.cron();
            monoio::time::sleep(next).await;
        }
    });
    node.run_mailbox().await;
}

const PROTECTED_MODE_DENIED: &[u8] = b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

async fn accept_loop(node: Rc<Node>, listener: monoio::net::TcpListener) {
    use monoio::io::AsyncWriteRentExt;
    use std::os::fd::AsRawFd;
    loop {
        let (mut stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(shard = node.id, "accept failed: {e}");
                monoio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let server = &node.server;
        server.total_connections_received.fetch_add(1, Relaxed);
        let _ = stream.set_nodelay(true);
        let (maxclients, protected) = {
            let c = server.config();
            (c.maxclients, c.protected_mode)
        };
        if protected && server.requirepass().is_none() && !peer.ip().is_loopback() {
            server.rejected_connections.fetch_add(1, Relaxed);
            let _ = stream.write_all(PROTECTED_MODE_DENIED).await;
            continue;
        }
        if server.connected_clients.load(Relaxed) as u64 >= maxclients {
            server.rejected_connections.fetch_add(1, Relaxed);
            let _ = stream.write_all(b"-ERR max number of clients reached\r\n".as_slice()).await;
            continue;
        }
        let laddr = stream.local_addr().map(|a| a.to_string()).unwrap_or_default();
        let info = Arc::new(ClientInfo::new(server.next_client_id.fetch_add(1, Relaxed), stream.as_raw_fd(), peer.to_string(), laddr, node.id));
        server.register_client(info.clone());
        monoio::spawn(crate::connection::serve(node.clone(), stream, info));
    }
}
