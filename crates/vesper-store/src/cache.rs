//! The program cache both backends keep: modules are immutable by id (content-addressed), so
//! a cached module never goes stale. Bounded: past 64 modules it starts over.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use vesper_core::ProgramId;

const MAX_PROGRAMS: usize = 64;

#[derive(Default)]
pub(crate) struct ProgramCache(Mutex<HashMap<ProgramId, Arc<Vec<u8>>>>);

impl ProgramCache {
    pub(crate) fn get(&self, id: &ProgramId) -> Option<Arc<Vec<u8>>> {
        self.0.lock().expect("program cache").get(id).cloned()
    }

    pub(crate) fn contains(&self, id: &ProgramId) -> bool {
        self.0.lock().expect("program cache").contains_key(id)
    }

    /// Remember `module` under `id` and hand it back shared.
    pub(crate) fn insert(&self, id: ProgramId, module: Vec<u8>) -> Arc<Vec<u8>> {
        let m = Arc::new(module);
        let mut cache = self.0.lock().expect("program cache");
        if cache.len() >= MAX_PROGRAMS {
            cache.clear();
        }
        cache.insert(id, m.clone());
        m
    }
}
