//! Prints how many statements and round trips the Postgres backend's `connect()` (validate
//! on) and `store_schema` send, counted by a protocol proxy in front of the test server.
//! `tests/round_trips.rs` asserts the same numbers.

use pycharter_benches::current_thread_runtime;
use pycharter_benches::round_trips::measure_postgres;

fn main() {
    // Cargo passes `--bench` (and `--test` in test mode); this measurement is the same in
    // both, and quick.
    let rt = current_thread_runtime();
    let report = rt.block_on(measure_postgres());
    println!("round_trips (PostgreSQL, counted by a protocol proxy):\n");
    println!("{}", report.to_markdown());
    println!(
        "statements = Query + Execute; round trips = Query + Sync; background pings: sqlx's \
         pool pings a connection when it is given back (after the operation returned)."
    );
}
