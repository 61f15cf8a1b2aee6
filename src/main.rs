//! The `shardis` binary: `shardis [shardis.conf] [--name value ...]`, or
//! `shardis check-aof [--fix] [--yes] FILE|DIR`.

#[global_allocator]
static GLOBAL: shardis::alloc::CountingAlloc = shardis::alloc::CountingAlloc;

fn main() {
    // A shard that panicked would leave the keyspace it owns unreachable while the process
    // looks alive: log and end the whole process instead, so a supervisor restarts it.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        tracing::error!("fatal: {info}");
        std::process::abort();
    }));
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("check-aof") {
        std::process::exit(shardis::aof::check::main(&args[1..]));
    }
    let cfg = match shardis::config::Config::from_args(&args) {
        Ok(c) => c,
        Err(e) => {
            if e.is_info_exit() {
                println!("{e}");
                std::process::exit(0);
            }
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = shardis::boot::init_logging(&cfg) {
        eprintln!("{e}");
        std::process::exit(1);
    }
    if let Err(e) = shardis::boot::run(cfg) {
        tracing::error!("{e}");
        eprintln!("{e}");
        std::process::exit(1);
    }
}
