//! Work that concurrent requests hand over to be done together: each request queues its item
//! and waits for its own answer; one task (the driver, started by whoever finds none running)
//! takes everything queued, does it in one go, and goes on while items keep arriving. A batch
//! is taken after each of its items was queued, so what it reads from the database is at least
//! as new as any of its requests.
//!
//! Requests never wait for one another, only for their answer, so the next batch starts as
//! soon as the last one is done, not after its requests have been served.
//!
//! Used where one statement costs about as much as a hundred: token inserts with their audit
//! events (`tokens`), and on PostgreSQL the per-request change-counter read and rate-limit count
//! (`admission`).

use orgplane_domain::{Error, Result};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// One queued item and where its answer goes.
pub(crate) struct Waiting<T, A> {
    pub item: T,
    pub answer: oneshot::Sender<Result<A>>,
}

pub(crate) struct Batcher<T, A> {
    queue: Arc<Mutex<Queue<T, A>>>,
    /// The most items one batch takes.
    max: usize,
}

struct Queue<T, A> {
    items: Vec<Waiting<T, A>>,
    /// Whether a driver task is running (it stops when it finds the queue empty).
    driven: bool,
}

impl<T, A> Batcher<T, A> {
    pub fn new(max: usize) -> Self {
        Batcher { queue: Arc::new(Mutex::new(Queue { items: Vec::new(), driven: false })), max }
    }
}

/// Held by the driver: if `run` panics, the queue is left without a driver and what is queued is
/// dropped (its requests get an error) instead of waiting for a driver that is gone.
struct Driving<T, A>(Arc<Mutex<Queue<T, A>>>);

impl<T, A> Drop for Driving<T, A> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut queue = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            queue.driven = false;
            queue.items.clear();
        }
    }
}

impl<T: Send + 'static, A: Send + 'static> Batcher<T, A> {
    /// Queues `item` and waits for its answer. If no driver is running, starts one that hands
    /// batches of what is queued to `run` (made by `make_run`, only then: most items join a
    /// running driver, and what `run` holds need not be cloned for each), which must answer
    /// every item of its batch.
    pub async fn submit<M, F, Fut>(&self, item: T, make_run: M) -> Result<A>
    where
        M: FnOnce() -> F,
        F: Fn(Vec<Waiting<T, A>>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let (answer, answered) = oneshot::channel();
        let start = {
            let mut queue = self.queue.lock().expect("batch queue lock");
            queue.items.push(Waiting { item, answer });
            !std::mem::replace(&mut queue.driven, true)
        };
        if start {
            // A task of its own: a request that goes away mid-batch (its client hung up) must
            // not abandon the others' items.
            let (queue, max, run) = (self.queue.clone(), self.max, make_run());
            tokio::spawn(async move {
                let _driving = Driving(queue.clone());
                loop {
                    // Let the tasks that are ready run first (the last batch's requests, new
                    // arrivals): what they queue joins this batch instead of the next.
                    tokio::task::yield_now().await;
                    let batch: Vec<_> = {
                        let mut queue = queue.lock().expect("batch queue lock");
                        if queue.items.is_empty() {
                            queue.driven = false;
                            return;
                        }
                        let n = queue.items.len().min(max);
                        queue.items.drain(..n).collect()
                    };
                    run(batch).await;
                }
            });
        }
        answered.await.map_err(|_| Error::internal("a batched operation was abandoned"))?
    }
}

#[cfg(test)]
mod tests {
    use super::{Batcher, Waiting};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_item_gets_its_own_answer_and_batches_form_under_load() {
        let batcher = Arc::new(Batcher::<u32, u32>::new(16));
        let batches = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for i in 0..200u32 {
            let (batcher, batches) = (batcher.clone(), batches.clone());
            tasks.push(tokio::spawn(async move {
                batcher
                    .submit(i, move || {
                        move |batch: Vec<Waiting<u32, u32>>| {
                            let batches = batches.clone();
                            async move {
                                assert!(batch.len() <= 16, "a batch takes at most `max` items");
                                batches.fetch_add(1, Ordering::SeqCst);
                                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                                for w in batch {
                                    let _ = w.answer.send(Ok(w.item * 10));
                                }
                            }
                        }
                    })
                    .await
            }));
        }
        for (i, task) in tasks.into_iter().enumerate() {
            assert_eq!(task.await.unwrap().unwrap(), i as u32 * 10);
        }
        let n = batches.load(Ordering::SeqCst);
        assert!(n < 200, "concurrent items share batches ({n} batches for 200 items)");
    }

    #[tokio::test]
    async fn an_item_left_unanswered_fails_instead_of_hanging() {
        let batcher = Batcher::<u32, u32>::new(4);
        let result = batcher.submit(1, || |batch: Vec<Waiting<u32, u32>>| async move { drop(batch) }).await;
        assert!(result.is_err());
    }

    #[tokio::test]
    async fn a_batch_that_panics_fails_its_items_and_the_next_items_get_a_new_driver() {
        let batcher = Batcher::<u32, u32>::new(4);
        let result = batcher.submit(1, || |_: Vec<Waiting<u32, u32>>| async move { panic!("a bug in a batch") }).await;
        assert!(result.is_err());
        let answer = |batch: Vec<Waiting<u32, u32>>| async move {
            for w in batch {
                let _ = w.answer.send(Ok(w.item + 1));
            }
        };
        assert_eq!(batcher.submit(2, || answer).await.unwrap(), 3);
    }
}
