//! The watcher thread: re-reads the fault state file as soon as it changes
//! (inotify on its directory, with a 100 ms re-read as a safety net, or 2 ms
//! polling where inotify is unavailable), applies it, and fires the fault
//! callbacks for what changed. Started once; it lives as long as the process
//! (the library pins itself in memory, see `pin`).

use std::ffi::{CString, c_int};
use std::fs::File;
use std::io::Read;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once, OnceLock};
use std::time::Duration;

use crate::events;
use crate::runtime::{lock, notify_changed};
use crate::state::FaultState;

/// Re-read interval when inotify works (events normally come first).
const SAFETY_NET_MS: c_int = 100;
/// Polling interval without inotify.
const POLL: Duration = Duration::from_millis(2);

/// The sending end of the pipe that wakes the watcher (after `dcmi_init`).
static WAKE: OnceLock<Mutex<UnixStream>> = OnceLock::new();

/// Starts the watcher thread unless it already runs, and makes it look at
/// the (possibly new) state path at once.
pub(crate) fn ensure_running() {
    static STARTED: Once = Once::new();
    STARTED.call_once(|| {
        if let Err(problem) = crate::pin::pin_library() {
            eprintln!(
                "dcmi-sim: cannot pin the library in memory ({problem}); fault injection is off"
            );
            return;
        }
        let wake = match UnixStream::pair() {
            Ok((sender, receiver))
                if sender.set_nonblocking(true).is_ok()
                    && receiver.set_nonblocking(true).is_ok() =>
            {
                WAKE.get_or_init(|| Mutex::new(sender));
                Some(receiver)
            }
            _ => None,
        };
        let spawned = if crate::pin::pinning() {
            std::thread::Builder::new()
                .name("dcmi-sim-watch".into())
                .spawn(move || run(wake))
                .map(drop)
        } else {
            spawn_unpinned(wake)
        };
        if let Err(error) = spawned {
            eprintln!("dcmi-sim: cannot start the state watcher: {error}; fault injection is off");
        }
    });
    if let Some(sender) = WAKE.get() {
        // A full pipe already holds a wake-up; nothing else can fail here.
        let _ = sender
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .write(&[1]);
    }
}

/// Starts the watcher on a bare pthread, as a C driver would: a thread of
/// Rust's `std` registers thread-local destructors that keep this library
/// loaded, which would hide a consumer's `dlclose` (`ASCEND_SIM_NO_PIN`).
fn spawn_unpinned(wake: Option<UnixStream>) -> std::io::Result<()> {
    extern "C" fn start(arg: *mut std::ffi::c_void) -> *mut std::ffi::c_void {
        // SAFETY: `arg` is the Box leaked by `spawn_unpinned` for this
        // thread alone; it is taken back exactly once, here.
        let wake = unsafe { Box::from_raw(arg.cast::<Option<UnixStream>>()) };
        run(*wake);
        std::ptr::null_mut()
    }
    let arg = Box::into_raw(Box::new(wake)).cast::<std::ffi::c_void>();
    // SAFETY: all-zero bytes are a valid, not yet created pthread_t.
    let mut thread: libc::pthread_t = unsafe { std::mem::zeroed() };
    // SAFETY: `start` has the signature pthread_create expects and owns `arg`.
    let code = unsafe { libc::pthread_create(&mut thread, std::ptr::null(), start, arg) };
    if code != 0 {
        // SAFETY: the thread was not created, so `arg` is still ours.
        drop(unsafe { Box::from_raw(arg.cast::<Option<UnixStream>>()) });
        return Err(std::io::Error::from_raw_os_error(code));
    }
    // SAFETY: `thread` was just created; detaching lets it free itself.
    unsafe { libc::pthread_detach(thread) };
    Ok(())
}

fn current_path() -> Option<PathBuf> {
    lock().as_ref().and_then(|sim| sim.state_path.clone())
}

fn run(wake: Option<UnixStream>) {
    let inotify = Inotify::new();
    let mut watched: Option<(PathBuf, c_int)> = None;
    loop {
        let Some(path) = current_path() else {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if let Some(inotify) = &inotify {
            if watched.as_ref().is_some_and(|(current, _)| *current != dir)
                && let Some((_, wd)) = watched.take()
            {
                inotify.remove(wd);
            }
            if watched.is_none() {
                watched = inotify.add(&dir).map(|wd| (dir.clone(), wd));
            }
        }
        // Read after (re)arming the watch: no change can fall in between.
        reload(&path);
        match (&inotify, &watched) {
            (Some(inotify), Some(_)) => inotify.wait(wake.as_ref(), SAFETY_NET_MS),
            _ => std::thread::sleep(POLL),
        }
    }
}

/// Applies the state file at `path` if it changed and parses; a missing or
/// half-written file leaves the previous state in force.
fn reload(path: &Path) {
    let Ok(bytes) = std::fs::read(path) else {
        return;
    };
    let (subscribers, deliveries) = {
        let mut guard = lock();
        let Some(sim) = guard.as_mut() else {
            return;
        };
        if sim.state_path.as_deref() != Some(path) || sim.state_bytes.as_deref() == Some(&bytes[..])
        {
            return;
        }
        let new = match FaultState::from_json(&bytes) {
            Ok(new) => new,
            Err(problem) => {
                if sim.rejected_bytes.as_deref() != Some(&bytes[..]) {
                    eprintln!(
                        "dcmi-sim: state file {}: {problem}; keeping the previous state",
                        path.display()
                    );
                    sim.rejected_bytes = Some(bytes);
                }
                return;
            }
        };
        let old = std::mem::replace(&mut sim.state, new.clone());
        sim.state_bytes = Some(bytes);
        let deliveries = events::changes(sim, &old, &new);
        notify_changed();
        (sim.subscribers.clone(), deliveries)
    };
    events::deliver(&subscribers, &deliveries);
}

/// A non-blocking inotify instance.
struct Inotify {
    file: File,
}

impl Inotify {
    fn new() -> Option<Self> {
        // SAFETY: inotify_init1 takes no pointers; it returns a new file
        // descriptor or -1.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if fd < 0 {
            return None;
        }
        // SAFETY: `fd` was just returned by inotify_init1, is open, and is
        // owned by nothing else.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        Some(Self {
            file: File::from(owned),
        })
    }

    fn add(&self, dir: &Path) -> Option<c_int> {
        let dir = CString::new(dir.as_os_str().as_bytes()).ok()?;
        let mask = libc::IN_CLOSE_WRITE
            | libc::IN_MOVED_TO
            | libc::IN_CREATE
            | libc::IN_DELETE
            | libc::IN_MOVED_FROM;
        // SAFETY: the descriptor is a live inotify instance and `dir` is a
        // NUL-terminated string that outlives the call.
        let wd = unsafe { libc::inotify_add_watch(self.file.as_raw_fd(), dir.as_ptr(), mask) };
        (wd >= 0).then_some(wd)
    }

    fn remove(&self, wd: c_int) {
        // SAFETY: the descriptor is a live inotify instance; a stale `wd`
        // only makes the call fail with EINVAL.
        unsafe { libc::inotify_rm_watch(self.file.as_raw_fd(), wd) };
    }

    /// Waits up to `timeout_ms` for directory events or a wake-up, then
    /// drains both (any event triggers a re-read, which compares content).
    fn wait(&self, wake: Option<&UnixStream>, timeout_ms: c_int) {
        let pollfd = |fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let mut fds = [
            pollfd(self.file.as_raw_fd()),
            pollfd(wake.map_or(-1, AsRawFd::as_raw_fd)),
        ];
        // SAFETY: `fds` is an array of 2 valid pollfd (a negative fd is
        // ignored by poll) that lives for the duration of the call.
        unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout_ms) };
        let mut buffer = [0u8; 4096];
        while matches!((&self.file).read(&mut buffer), Ok(n) if n > 0) {}
        if let Some(mut wake) = wake {
            while matches!(wake.read(&mut buffer), Ok(n) if n > 0) {}
        }
    }
}
