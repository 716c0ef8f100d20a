//! Loom models of the pool's locked core: the real `State` and waiter queue behind the pool
//! lock, which is loom's mutex through the `sync` shim, driven by threads that make the same
//! calls the async layer makes (lock, one transition, unlock, then the side effects: wakes,
//! the drain notification, passing a hand-off on), in every interleaving loom explores. Run with `make loom`
//! (`RUSTFLAGS="--cfg loom" cargo test -p tarn-pool --release --lib loom`).
//!
//! Each model checks that no connection and no slot is lost or counted twice (the invariant at
//! the end, and every connection accounted for) and that no wake-up is lost.

use std::task::Waker;

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;

use crate::clock::{Clock, Nanos};
use crate::config::Config;
use crate::error::Error;
use crate::internals::{Back, Deadline, Live, Returned, Settings, State, Step, Wait};
use crate::sync::Mutex;
use crate::waiters::{Handoff, WaiterKey};

type St = State<u32, std::io::Error>;

fn pool_of_one() -> Arc<Mutex<St>> {
    let config = Config {
        max_size: 1,
        ..Config::default()
    };
    Arc::new(Mutex::new(State::new(Settings::new(&config))))
}

fn live(conn: u32) -> Live<u32> {
    Live {
        conn,
        created_at: 0,
        expires_at: Nanos::MAX,
        idle_since: 0,
    }
}

/// A caller joins the queue, as `Checkout`'s first poll does.
fn queue(st: &mut St, deadline: Option<Nanos>) -> (WaiterKey, usize) {
    let deadline = Deadline {
        start: 0,
        at: deadline,
    };
    match st.checkout(&Clock::new(), Wait::Queue, deadline, Waker::noop()) {
        Step::Queued { key, plan, .. } => (key, plan.count),
        other => panic!("expected to queue, got {other:?}"),
    }
}

/// One connection in use (opened for a first caller, who collected it), and a second caller
/// queued for it. Returns the connection and the second caller's key.
fn one_in_use_one_waiting(st: &mut St, deadline: Option<Nanos>) -> (Live<u32>, WaiterKey) {
    let (first, connects) = queue(st, None);
    assert_eq!(connects, 1);
    let connected = st.connect_succeeded(live(7), 0);
    assert!(matches!(connected.returned, Returned::Handed(_)));
    let Some(Handoff::Conn(conn)) = st.collect(first, Waker::noop()) else {
        panic!("the first caller was served")
    };
    let (key, connects) = queue(st, deadline);
    assert_eq!(connects, 0, "the pool is full: no connect");
    (conn, key)
}

fn wake(returned: Returned<u32>) {
    match returned {
        Returned::Handed(Some(waker)) => waker.wake(),
        Returned::Handed(None) | Returned::Idle => {}
        Returned::Close { .. } => panic!("nothing closes here"),
    }
}

/// A waiter served while it leaves: a caller returns the only connection while the waiter's
/// future is dropped (`Checkout::drop`). Whichever wins, the connection ends up idle, never
/// stranded in a slot nobody reads, and never counted in use.
#[test]
fn loom_a_waiter_served_while_it_leaves_loses_nothing() {
    loom::model(|| {
        let pool = pool_of_one();
        let (conn, key) = one_in_use_one_waiting(&mut pool.lock(), None);

        let returner = {
            let pool = Arc::clone(&pool);
            thread::spawn(move || {
                let returned = pool.lock().put_back(conn, Back::PassedOn, &Clock::new());
                wake(returned);
            })
        };
        // The waiter leaves, and passes on what it was handed before it could.
        let left = pool.lock().leave(key);
        if let Some(handoff) = left.handoff {
            let Handoff::Conn(conn) = handoff else {
                panic!("only a connection is handed here")
            };
            wake(pool.lock().put_back(conn, Back::PassedOn, &Clock::new()));
        }
        returner.join().unwrap();

        let st = pool.lock();
        assert!(st.invariant_holds());
        let s = st.status();
        assert_eq!((s.size, s.idle, s.in_use, s.waiting), (1, 1, 0, 0), "{s:?}");
        assert!(st.waiters_is_empty_for_tests(), "a slot left behind");
    });
}

/// A connect slot given back while the pool closes: the connect task is dropped
/// (`ConnectSlot::drop`), or its connect finishes and finds the pool closed, while `close()`
/// closes the pool and then waits for it to drain. `close()` registers for the drain
/// notification before it looks (tokio's `Notified::enable`); whichever order the two take,
/// it either sees the pool empty or is notified.
#[test]
fn loom_a_connect_slot_released_while_the_pool_closes_wakes_close() {
    for connect_finishes in [false, true] {
        loom::model(move || {
            let pool = pool_of_one();
            let (key, connects) = queue(&mut pool.lock(), None);
            assert_eq!(connects, 1);
            let listening = Arc::new(AtomicBool::new(false));
            let notified = Arc::new(AtomicBool::new(false));

            let connect = {
                let pool = Arc::clone(&pool);
                let listening = Arc::clone(&listening);
                let notified = Arc::clone(&notified);
                thread::spawn(move || {
                    let drained = if connect_finishes {
                        let connected = pool.lock().connect_succeeded(live(7), 0);
                        match connected.returned {
                            Returned::Close { freed, .. } => freed.drained,
                            Returned::Handed(waker) => {
                                waker.into_iter().for_each(Waker::wake);
                                false
                            }
                            Returned::Idle => false,
                        }
                    } else {
                        pool.lock().release_connect_slot()
                    };
                    // `Notify::notify_waiters` wakes only waiters already registered.
                    if drained && listening.load(Ordering::SeqCst) {
                        notified.store(true, Ordering::SeqCst);
                    }
                })
            };
            let closing = pool.lock().close();
            closing.wake.into_iter().for_each(Waker::wake);
            listening.store(true, Ordering::SeqCst);
            let empty = pool.lock().is_empty();
            connect.join().unwrap();
            // The waiter collects what it was handed: failed by the close, or served by the
            // connect before it, in which case it gives the connection back and that closes it.
            let handed = pool.lock().collect(key, Waker::noop());
            match handed {
                Some(Handoff::Failed(Error::Closed)) => {}
                Some(Handoff::Conn(conn)) => {
                    match pool.lock().put_back(conn, Back::PassedOn, &Clock::new()) {
                        Returned::Close { freed, .. } if freed.drained => {
                            notified.store(true, Ordering::SeqCst);
                        }
                        other => panic!("kept after close: {other:?}"),
                    }
                }
                other => panic!("the waiter was not told: {other:?}"),
            }

            let st = pool.lock();
            assert!(st.invariant_holds());
            assert!(st.is_empty(), "{:?}", st.status());
            if !empty {
                assert!(notified.load(Ordering::SeqCst), "close() missed the drain");
            }
        });
    }
}

/// The hand-off racing a timeout: the background task times the waiter out (its deadline
/// passed) while a caller returns the connection and the waiter polls, then gives up
/// if it found nothing. The waiter gets exactly one outcome; a connection it did not collect
/// ends up idle.
#[test]
fn loom_the_hand_off_racing_a_timeout_gives_one_outcome() {
    loom::model(|| {
        let pool = pool_of_one();
        let (conn, key) = {
            let mut st = pool.lock();
            assert!(st.start_background());
            one_in_use_one_waiting(&mut st, Some(100))
        };

        let timer = {
            let pool = Arc::clone(&pool);
            thread::spawn(move || {
                let mut wake = Vec::new();
                let _ = pool.lock().tick(200, &mut wake);
                wake.into_iter().for_each(Waker::wake);
            })
        };
        let returner = {
            let pool = Arc::clone(&pool);
            thread::spawn(move || {
                wake(pool.lock().put_back(conn, Back::PassedOn, &Clock::new()));
            })
        };
        // The waiter polls once; if nothing is there yet it gives up (its future is dropped),
        // passing on whatever it was handed in the meantime.
        let polled = pool.lock().collect(key, Waker::noop());
        let outcome = match polled {
            Some(handoff) => Some(handoff),
            None => {
                let left = pool.lock().leave(key);
                match left.handoff {
                    Some(Handoff::Conn(conn)) => {
                        wake(pool.lock().put_back(conn, Back::PassedOn, &Clock::new()));
                        None
                    }
                    other => other,
                }
            }
        };
        timer.join().unwrap();
        returner.join().unwrap();

        let st = pool.lock();
        assert!(st.invariant_holds());
        let s = st.status();
        assert_eq!((s.size, s.waiting), (1, 0), "{s:?}");
        match outcome {
            Some(Handoff::Conn(_)) => assert_eq!((s.in_use, s.idle), (1, 0), "{s:?}"),
            Some(Handoff::TimedOut(_)) | None => {
                assert_eq!((s.in_use, s.idle), (0, 1), "{s:?}")
            }
            Some(Handoff::Failed(e)) => panic!("failed: {e:?}"),
        }
        assert!(
            st.waiters_is_empty_for_tests(),
            "a second outcome left behind"
        );
    });
}

/// Records that it was woken, for the model below.
struct Woken(AtomicBool);

impl std::task::Wake for Woken {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// No wake-up is lost: a waiter that polled and found nothing is woken by whoever serves it
/// (the return or the timeout), because the waker it stored and the hand-off meet under the
/// pool lock. The waiter then finds exactly one outcome.
#[test]
fn loom_a_waiter_that_polled_empty_is_woken_when_served() {
    loom::model(|| {
        let pool = pool_of_one();
        let (conn, key) = {
            let mut st = pool.lock();
            assert!(st.start_background());
            one_in_use_one_waiting(&mut st, Some(100))
        };
        let woken = std::sync::Arc::new(Woken(AtomicBool::new(false)));
        let waker = Waker::from(std::sync::Arc::clone(&woken));

        let timer = {
            let pool = Arc::clone(&pool);
            thread::spawn(move || {
                let mut wake = Vec::new();
                let _ = pool.lock().tick(200, &mut wake);
                wake.into_iter().for_each(Waker::wake);
            })
        };
        let returner = {
            let pool = Arc::clone(&pool);
            thread::spawn(move || {
                wake(pool.lock().put_back(conn, Back::PassedOn, &Clock::new()));
            })
        };
        let polled = pool.lock().collect(key, &waker);
        let got = match polled {
            Some(handoff) => handoff,
            None => {
                while !woken.0.load(Ordering::SeqCst) {
                    thread::yield_now();
                }
                let polled = pool.lock().collect(key, &waker);
                polled.expect("woken with nothing to collect")
            }
        };
        timer.join().unwrap();
        returner.join().unwrap();

        let st = pool.lock();
        assert!(st.invariant_holds());
        let s = st.status();
        match got {
            Handoff::Conn(_) => assert_eq!((s.in_use, s.idle), (1, 0), "{s:?}"),
            Handoff::TimedOut(_) => assert_eq!((s.in_use, s.idle), (0, 1), "{s:?}"),
            Handoff::Failed(e) => panic!("failed: {e:?}"),
        }
        assert!(
            st.waiters_is_empty_for_tests(),
            "a second outcome left behind"
        );
    });
}
