//! What an app environment delivers: its included shared documents, in order, then its own
//! document, merged with Streamlit's rule (hush-core's `effective`). Runners, `GET …/secrets`,
//! the watch stream and server-launched apps all go through [`current`].
//!
//! An environment's includes are cached (they change rarely; `SharedChanged` and deletions drop
//! the entry), so a read of an environment without includes costs what it did before.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use hush_core::{Document, Effective, Table};
use hush_store::App;
use zeroize::Zeroizing;

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::hub::Rev;
use crate::vault::Latest;

/// An environment's includes as last read from the store.
struct Includes {
    shared_rev: i64,
    docs: Vec<App>,
}

/// An environment's includes once read; readers that find the slot empty wait for the one
/// read under way (single flight): a shared save's announcement brings every runner of every
/// including environment at once, and each must not read the database.
#[derive(Default)]
struct IncludesSlot {
    loaded: tokio::sync::OnceCell<Arc<Includes>>,
}

#[derive(Default)]
pub struct IncludesCache {
    by_env: RwLock<HashMap<i64, Arc<IncludesSlot>>>,
}

impl IncludesCache {
    /// Drops what is cached about an environment whose includes are now at `shared_rev` (a
    /// read under way may predate it: its slot goes too).
    pub fn changed(&self, env_id: i64, shared_rev: i64) {
        let mut cache = self.by_env.write().expect("includes cache lock");
        if cache.get(&env_id).is_some_and(|slot| {
            slot.loaded
                .get()
                .is_none_or(|loaded| loaded.shared_rev < shared_rev)
        }) {
            cache.remove(&env_id);
        }
    }

    pub fn forget(&self, env_id: i64) {
        self.by_env
            .write()
            .expect("includes cache lock")
            .remove(&env_id);
    }

    pub fn forget_all(&self) {
        self.by_env.write().expect("includes cache lock").clear();
    }

    /// The includes if they are loaded (the fast read path never waits for a load).
    fn cached(&self, env_id: i64) -> Option<Arc<Includes>> {
        let cache = self.by_env.read().expect("includes cache lock");
        cache.get(&env_id)?.loaded.get().cloned()
    }

    async fn get(&self, state: &AppState, env_id: i64) -> ApiResult<Arc<Includes>> {
        let found = self
            .by_env
            .read()
            .expect("includes cache lock")
            .get(&env_id)
            .cloned();
        let slot = match found {
            Some(slot) => slot,
            None => self
                .by_env
                .write()
                .expect("includes cache lock")
                .entry(env_id)
                .or_default()
                .clone(),
        };
        slot.loaded
            .get_or_try_init(|| async {
                crate::metrics::Metrics::inc(&state.metrics.environment_loads);
                let env = state.store.get_environment(env_id).await?;
                let docs = state.store.includes(env_id).await?;
                Ok::<_, ApiError>(Arc::new(Includes {
                    shared_rev: env.shared_rev,
                    docs,
                }))
            })
            .await
            .cloned()
    }
}

/// The response body of `GET …/secrets` for an environment with includes, built once per
/// state of the environment (its version, `shared_rev` and included documents' versions) even
/// when a save's announcement brings every runner at once.
#[derive(Default)]
pub struct BodyCache {
    by_env: RwLock<HashMap<i64, Arc<CachedBody>>>,
}

struct CachedBody {
    key: (Rev, Vec<i64>),
    body: tokio::sync::OnceCell<axum::body::Bytes>,
}

impl BodyCache {
    /// The body for `current`, built by `build` if no one has built it for this state yet.
    pub async fn get_or_build(
        &self,
        env_id: i64,
        current: &Current,
        build: impl FnOnce() -> ApiResult<axum::body::Bytes>,
    ) -> ApiResult<axum::body::Bytes> {
        let key = body_key(current);
        let entry = {
            let found = self
                .by_env
                .read()
                .expect("body cache lock")
                .get(&env_id)
                .filter(|e| e.key == key)
                .cloned();
            match found {
                Some(entry) => entry,
                None => {
                    let fresh = Arc::new(CachedBody {
                        key: key.clone(),
                        body: tokio::sync::OnceCell::new(),
                    });
                    let mut map = self.by_env.write().expect("body cache lock");
                    let slot = map.entry(env_id).or_insert_with(|| fresh.clone());
                    if slot.key != key {
                        *slot = fresh;
                    }
                    slot.clone()
                }
            }
        };
        entry
            .body
            .get_or_try_init(|| async { build() })
            .await
            .cloned()
    }

    /// The body for `current` if it was built already (the fast read path builds nothing).
    pub fn cached(&self, env_id: i64, current: &Current) -> Option<axum::body::Bytes> {
        let entry = self
            .by_env
            .read()
            .expect("body cache lock")
            .get(&env_id)
            .cloned()?;
        (entry.key == body_key(current))
            .then(|| entry.body.get().cloned())
            .flatten()
    }

    pub fn forget(&self, env_id: i64) {
        self.by_env
            .write()
            .expect("body cache lock")
            .remove(&env_id);
    }
}

/// What a built body depends on: the environment's revision and its includes' versions.
fn body_key(current: &Current) -> (Rev, Vec<i64>) {
    (
        current.rev,
        current
            .includes
            .iter()
            .map(|(_, l)| l.as_ref().map_or(0, |l| l.version))
            .collect(),
    )
}

/// An environment as it is now: its own newest version and its included documents' newest.
pub struct Current {
    pub own: Option<Arc<Latest>>,
    pub includes: Vec<(App, Option<Arc<Latest>>)>,
    pub rev: Rev,
}

impl Current {
    fn of(
        own: Option<Arc<Latest>>,
        includes: &Includes,
        docs: Vec<(App, Option<Arc<Latest>>)>,
    ) -> Current {
        let rev = Rev {
            version: own.as_ref().map_or(0, |l| l.version),
            shared: includes.shared_rev,
        };
        Current {
            own,
            includes: docs,
            rev,
        }
    }

    pub fn version(&self) -> i64 {
        self.own.as_ref().map_or(0, |l| l.version)
    }

    /// Whether nothing at all is there: no own version and nothing included has a version.
    pub fn is_empty(&self) -> bool {
        self.own.is_none() && self.includes.iter().all(|(_, l)| l.is_none())
    }

    /// The merged document with where each root key comes from (the environment's own
    /// document is named by `own_name`).
    pub fn effective(&self, own_name: &str) -> ApiResult<Effective> {
        let mut trees: Vec<(String, Table)> = Vec::with_capacity(self.includes.len() + 1);
        for (doc, latest) in &self.includes {
            trees.push((doc.name.clone(), parse(latest.as_deref())?));
        }
        trees.push((own_name.to_owned(), parse(self.own.as_deref())?));
        Ok(hush_core::effective(
            trees.iter().map(|(n, t)| (n.as_str(), t)),
        ))
    }

    /// The text a runner gets: the own document as written when nothing is included (comments
    /// kept), else the merged document.
    pub fn text(&self) -> ApiResult<Zeroizing<String>> {
        if self.includes.is_empty() {
            return Ok(Zeroizing::new(
                self.own
                    .as_ref()
                    .map_or(String::new(), |l| l.text.to_string()),
            ));
        }
        Ok(Zeroizing::new(self.effective("")?.to_toml()))
    }

    /// The included documents and the version of each this state holds, in order.
    pub fn included_versions(&self) -> Vec<IncludedVersion> {
        self.includes
            .iter()
            .map(|(doc, latest)| IncludedVersion {
                document: doc.name.clone(),
                version: latest.as_ref().map_or(0, |l| l.version),
            })
            .collect()
    }
}

/// One included shared document and its version (0: it has none yet).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct IncludedVersion {
    pub document: String,
    pub version: i64,
}

fn parse(latest: Option<&Latest>) -> ApiResult<Table> {
    match latest {
        // Every stored version passed the save checks.
        Some(l) => Document::parse(&l.text)
            .map(Document::into_root)
            .map_err(|_| ApiError::internal()),
        None => Ok(Table::new()),
    }
}

/// The shared document `doc` as a handle the vault can open.
fn doc_handle(doc: &App) -> App {
    App {
        env_id: doc.id,
        ..doc.clone()
    }
}

/// The environment `app` stands for, as it is now.
pub async fn current(state: &AppState, app: &App) -> ApiResult<Current> {
    let own = state.vault.latest(state.store.as_ref(), app).await?;
    let includes = state.includes.get(state, app.env_id).await?;
    let mut docs = Vec::with_capacity(includes.docs.len());
    for doc in &includes.docs {
        let latest = state
            .vault
            .latest(state.store.as_ref(), &doc_handle(doc))
            .await?;
        docs.push((doc.clone(), latest));
    }
    Ok(Current::of(own, &includes, docs))
}

/// [`current`] from what is cached alone; `None` when something would have to be read (the
/// fast read path then leaves the request to the route).
pub fn cached_current(state: &AppState, app: &App) -> Option<Current> {
    let own = Some(state.vault.cached(app.env_id)?);
    let includes = state.includes.cached(app.env_id)?;
    let mut docs = Vec::with_capacity(includes.docs.len());
    for doc in &includes.docs {
        docs.push((doc.clone(), Some(state.vault.cached(doc.id)?)));
    }
    Some(Current::of(own, &includes, docs))
}

/// The effective document `app`'s environment would have with its own document replaced by
/// `own`; `None` when it includes nothing (its own document is all there is).
pub async fn effective_with_own(
    state: &AppState,
    app: &App,
    own: &Table,
) -> ApiResult<Option<Effective>> {
    let now = current(state, app).await?;
    if now.includes.is_empty() {
        return Ok(None);
    }
    let mut trees: Vec<(String, Table)> = Vec::with_capacity(now.includes.len() + 1);
    for (doc, latest) in &now.includes {
        trees.push((doc.name.clone(), parse(latest.as_deref())?));
    }
    trees.push((app.env.clone(), own.clone()));
    Ok(Some(hush_core::effective(
        trees.iter().map(|(n, t)| (n.as_str(), t)),
    )))
}

/// The effective document `env` would have with `doc`'s newest text replaced by `text`
/// (checking a shared-document save before it is made).
pub async fn effective_with(
    state: &AppState,
    app: &App,
    doc_id: i64,
    text: &Table,
) -> ApiResult<Effective> {
    let now = current(state, app).await?;
    let mut trees: Vec<(String, Table)> = Vec::with_capacity(now.includes.len() + 1);
    for (doc, latest) in &now.includes {
        let tree = if doc.id == doc_id {
            text.clone()
        } else {
            parse(latest.as_deref())?
        };
        trees.push((doc.name.clone(), tree));
    }
    trees.push((app.env.clone(), parse(now.own.as_deref())?));
    Ok(hush_core::effective(
        trees.iter().map(|(n, t)| (n.as_str(), t)),
    ))
}
