//! What the provers hold loaded: `zk:preloads` (a sorted set of image ids by time asked) and
//! `zk:loaded` (a hash, prover → `{reported_at} {image id},…`), under the namespace.

use super::*;

#[async_trait::async_trait]
impl ProverStore for RedisStore {
    async fn request_preload(&self, image_id: &str, now: Timestamp) -> Result<()> {
        let key = self.key("zk:preloads");
        let mut pipe = redis::pipe();
        pipe.atomic()
            .zadd(&key, image_id, now.0)
            .ignore()
            .zremrangebyrank(&key, 0, -(MAX_PRELOADS as isize) - 1)
            .ignore();
        let mut con = self.con.clone();
        let () = pipe.query_async(&mut con).await.map_err(re)?;
        Ok(())
    }

    async fn preloads(&self) -> Result<Vec<String>> {
        let mut con = self.con.clone();
        con.zrevrange(self.key("zk:preloads"), 0, -1)
            .await
            .map_err(re)
    }

    async fn report_loaded(
        &self,
        prover: &str,
        image_ids: &[String],
        now: Timestamp,
    ) -> Result<()> {
        let key = self.key("zk:loaded");
        let mut con = self.con.clone();
        let all: HashMap<String, String> = con.hgetall(&key).await.map_err(re)?;
        let cutoff = now.0.saturating_sub(LOADED_REPORT_TTL_MS);
        let mut pipe = redis::pipe();
        pipe.hset(&key, prover, format!("{} {}", now.0, image_ids.join(",")))
            .ignore();
        for (p, v) in &all {
            if parse_report(p, v).is_none_or(|r| r.reported_at.0 < cutoff) {
                pipe.hdel(&key, p).ignore();
            }
        }
        let () = pipe.query_async(&mut con).await.map_err(re)?;
        Ok(())
    }

    async fn loaded_reports(&self, since: Timestamp) -> Result<Vec<LoadedReport>> {
        let mut con = self.con.clone();
        let all: HashMap<String, String> = con.hgetall(self.key("zk:loaded")).await.map_err(re)?;
        let mut out: Vec<LoadedReport> = all
            .iter()
            .filter_map(|(p, v)| parse_report(p, v))
            .filter(|r| r.reported_at >= since)
            .collect();
        out.sort_by(|a, b| a.prover.cmp(&b.prover));
        Ok(out)
    }
}

fn parse_report(prover: &str, v: &str) -> Option<LoadedReport> {
    let (at, ids) = v.split_once(' ')?;
    Some(LoadedReport {
        prover: prover.to_owned(),
        image_ids: ids
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        reported_at: Timestamp(at.parse().ok()?),
    })
}
