//! The threads statements run on. Some of the work on a statement recurses as deep as its
//! expressions nest: sqlparser's and DataFusion's derived `Clone`, `Drop`, `PartialEq` and
//! `Display`, expression evaluation, type inference. DataFusion grows the stack on the heap
//! in its tree walks (`recursive_protection`) but not in those, and Tokio's workers have 2 MiB:
//! 3,000 ANDs over Flight SQL overflowed one and aborted the server. Every thread TagFusion runs
//! statements on has [`STACK_SIZE`] instead (reserved address space; memory is only used as
//! deep input needs it), and the parser refuses statements beyond [`crate::parser::limits`]
//! so that what is accepted fits.

use std::future::Future;

/// Stack of the main thread and of every Tokio thread (workers and blocking threads).
pub const STACK_SIZE: usize = 512 << 20;

/// A multi-threaded Tokio runtime whose threads have [`STACK_SIZE`].
pub fn new() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(STACK_SIZE)
        .build()
}

/// Runs the future `make` returns to completion on a thread with [`STACK_SIZE`] and the
/// runtime of [`new`]; what the binary's `main` does.
pub fn block_on<F, Fut>(make: F) -> std::io::Result<Fut::Output>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future,
    Fut::Output: Send + 'static,
{
    let thread = std::thread::Builder::new()
        .name("tagfusion-main".into())
        .stack_size(STACK_SIZE)
        .spawn(move || new().map(|runtime| runtime.block_on(make())))?;
    match thread.join() {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}
