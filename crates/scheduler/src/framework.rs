//! The scheduling framework: plugin traits for the extension points skiff
//! implements (PreFilter, Filter with its add/remove-pod extensions for
//! preemption, PreScore, Score, NormalizeScore), the per-pod cycle state,
//! plugin statuses, and a profile (`Framework`) that runs its plugins in
//! order.
//!
//! As in kube-scheduler (`pkg/scheduler/framework/interface.go`), a filter
//! stops at the first plugin that rejects a node, and scores are weighted
//! sums of normalized 0..=100 plugin scores. Does not own: choosing which
//! nodes to look at (`schedule_one`) or the plugins' rules (`plugins`).

use std::any::{Any, TypeId};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use crate::cache::Snapshot;
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

/// The highest score a plugin gives a node.
pub const MAX_NODE_SCORE: i64 = 100;

/// The outcome class of a plugin call (`framework.Code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Success,
    /// The node does not fit now; preemption may help.
    Unschedulable,
    /// The node does not fit and preemption cannot help.
    UnschedulableAndUnresolvable,
    /// The plugin has nothing to do for this pod (PreFilter, PreScore).
    Skip,
    /// An internal error.
    Error,
}

/// A plugin's answer: a code, reasons (shown in `FailedScheduling`), and the
/// plugin that gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub code: Code,
    pub reasons: Vec<Cow<'static, str>>,
    pub plugin: &'static str,
}

impl Status {
    pub const fn success() -> Status {
        Status {
            code: Code::Success,
            reasons: Vec::new(),
            plugin: "",
        }
    }

    pub const fn skip() -> Status {
        Status {
            code: Code::Skip,
            reasons: Vec::new(),
            plugin: "",
        }
    }

    pub fn new(code: Code, reason: impl Into<Cow<'static, str>>) -> Status {
        Status {
            code,
            reasons: vec![reason.into()],
            plugin: "",
        }
    }

    pub fn unschedulable(reason: impl Into<Cow<'static, str>>) -> Status {
        Status::new(Code::Unschedulable, reason)
    }

    pub fn unresolvable(reason: impl Into<Cow<'static, str>>) -> Status {
        Status::new(Code::UnschedulableAndUnresolvable, reason)
    }

    pub fn is_success(&self) -> bool {
        self.code == Code::Success
    }

    /// Unschedulable or UnschedulableAndUnresolvable.
    pub fn is_rejected(&self) -> bool {
        matches!(
            self.code,
            Code::Unschedulable | Code::UnschedulableAndUnresolvable
        )
    }

    /// The reasons joined, as `Status.Message()`.
    pub fn message(&self) -> String {
        self.reasons.join(", ")
    }

    fn with_plugin(mut self, plugin: &'static str) -> Status {
        self.plugin = plugin;
        self
    }
}

/// Data a plugin keeps for one pod's scheduling cycle. Cloned when preemption
/// simulates removing pods.
pub trait StateData: Any + Send + Sync {
    fn clone_box(&self) -> Box<dyn StateData>;
}

impl<T: Any + Send + Sync + Clone> StateData for T {
    fn clone_box(&self) -> Box<dyn StateData> {
        Box::new(self.clone())
    }
}

/// Per-cycle state (`framework.CycleState`), keyed by the data's type; each
/// plugin has its own state type.
#[derive(Default)]
pub struct CycleState {
    data: HashMap<TypeId, Box<dyn StateData>>,
    /// `skip_filter[i]`: the profile's i-th filter's PreFilter returned
    /// Skip. By position, not name: the filters run once per node, and a
    /// name search per plugin and node was 2% of the scheduler's CPU.
    skip_filter: Vec<bool>,
}

impl Clone for CycleState {
    fn clone(&self) -> CycleState {
        CycleState {
            data: self
                .data
                .iter()
                .map(|(k, v)| (*k, (**v).clone_box()))
                .collect(),
            skip_filter: self.skip_filter.clone(),
        }
    }
}

impl CycleState {
    pub fn write<T: StateData>(&mut self, value: T) {
        self.data.insert(TypeId::of::<T>(), Box::new(value));
    }

    pub fn read<T: StateData>(&self) -> Option<&T> {
        let b = self.data.get(&TypeId::of::<T>())?;
        let data: &dyn StateData = &**b;
        (data as &dyn Any).downcast_ref::<T>()
    }

    pub fn read_mut<T: StateData>(&mut self) -> Option<&mut T> {
        let b = self.data.get_mut(&TypeId::of::<T>())?;
        let data: &mut dyn StateData = &mut **b;
        (data as &mut dyn Any).downcast_mut::<T>()
    }
}

/// A Filter plugin, with its PreFilter and the PreFilter extensions that
/// keep its state right when preemption adds or removes pods.
pub trait FilterPlugin: Send + Sync {
    fn name(&self) -> &'static str;

    /// Computes per-pod state. `Skip` means the filter need not run.
    fn pre_filter(&self, _state: &mut CycleState, _pod: &PodInfo, _snapshot: &Snapshot) -> Status {
        Status::success()
    }

    /// Whether the pod fits on the node.
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status;

    /// `PreFilterExtensions.AddPod`: `added` now runs on `node`.
    fn add_pod(
        &self,
        _state: &mut CycleState,
        _pod: &PodInfo,
        _added: &PodInfo,
        _node: &NodeInfo,
        _snapshot: &Snapshot,
    ) {
    }

    /// `PreFilterExtensions.RemovePod`: `removed` no longer runs on `node`.
    fn remove_pod(
        &self,
        _state: &mut CycleState,
        _pod: &PodInfo,
        _removed: &PodInfo,
        _node: &NodeInfo,
        _snapshot: &Snapshot,
    ) {
    }
}

/// A Score plugin with its PreScore and NormalizeScore.
pub trait ScorePlugin: Send + Sync {
    fn name(&self) -> &'static str;

    /// Computes per-pod state from the nodes that passed the filters.
    /// `Skip` means the plugin scores nothing for this pod.
    fn pre_score(
        &self,
        _state: &mut CycleState,
        _pod: &PodInfo,
        _nodes: &[&NodeInfo],
        _snapshot: &Snapshot,
    ) -> Status {
        Status::success()
    }

    /// The raw score of one node.
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> i64;

    /// Rescales raw scores to 0..=MAX_NODE_SCORE; `scores[i]` belongs to
    /// `nodes[i]` of `pre_score`.
    fn normalize(&self, _state: &CycleState, _pod: &PodInfo, _scores: &mut [i64]) {}
}

/// `helper.DefaultNormalizeScore`: scales so the highest becomes
/// MAX_NODE_SCORE; `reverse` turns high into low.
pub fn default_normalize_score(max_priority: i64, reverse: bool, scores: &mut [i64]) {
    let max = scores.iter().copied().max().unwrap_or(0);
    if max == 0 {
        if reverse {
            scores.iter_mut().for_each(|s| *s = max_priority);
        }
        return;
    }
    for s in scores.iter_mut() {
        let mut v = max_priority * *s / max;
        if reverse {
            v = max_priority - v;
        }
        *s = v;
    }
}

/// A scheduling profile: the plugins of one `schedulerName`, in order.
#[derive(Clone)]
pub struct Framework {
    pub scheduler_name: String,
    pub filters: Vec<Arc<dyn FilterPlugin>>,
    pub scorers: Vec<(Arc<dyn ScorePlugin>, i64)>,
    /// DefaultPreemption is enabled.
    pub preemption: Option<crate::preemption::PreemptionArgs>,
    /// The profile's `percentageOfNodesToScore` (0: adaptive).
    pub percentage_of_nodes_to_score: Option<u32>,
}

impl Framework {
    /// Runs every PreFilter. On rejection returns the status (message goes
    /// into the FitError as the PreFilter message).
    pub fn run_pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> Status {
        state.skip_filter.clear();
        state.skip_filter.resize(self.filters.len(), false);
        for (i, p) in self.filters.iter().enumerate() {
            let s = p.pre_filter(state, pod, snapshot);
            match s.code {
                Code::Success => {}
                Code::Skip => state.skip_filter[i] = true,
                _ => return s.with_plugin(p.name()),
            }
        }
        Status::success()
    }

    /// Runs the filters on one node, stopping at the first rejection.
    pub fn run_filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        for (i, p) in self.filters.iter().enumerate() {
            if state.skip_filter.get(i).copied().unwrap_or(false) {
                continue;
            }
            let s = p.filter(state, pod, node);
            if !s.is_success() {
                return s.with_plugin(p.name());
            }
        }
        Status::success()
    }

    /// Runs the AddPod extensions (a pod is added to `node` in the simulation).
    pub fn run_add_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        added: &PodInfo,
        node: &NodeInfo,
        snapshot: &Snapshot,
    ) {
        for p in &self.filters {
            p.add_pod(state, pod, added, node, snapshot);
        }
    }

    /// Runs the RemovePod extensions.
    pub fn run_remove_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        removed: &PodInfo,
        node: &NodeInfo,
        snapshot: &Snapshot,
    ) {
        for p in &self.filters {
            p.remove_pod(state, pod, removed, node, snapshot);
        }
    }

    /// PreScore, Score, NormalizeScore and weights: the total per node.
    pub fn run_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        nodes: &[&NodeInfo],
        snapshot: &Snapshot,
    ) -> Vec<i64> {
        let mut totals = vec![0i64; nodes.len()];
        let mut scores = vec![0i64; nodes.len()];
        for (p, weight) in &self.scorers {
            let s = p.pre_score(state, pod, nodes, snapshot);
            if s.code == Code::Skip || !s.is_success() {
                continue;
            }
            for (i, n) in nodes.iter().enumerate() {
                scores[i] = p.score(state, pod, n);
            }
            p.normalize(state, pod, &mut scores);
            for (t, s) in totals.iter_mut().zip(&scores) {
                *t += s * weight;
            }
        }
        totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_normalize() {
        let mut s = vec![0, 5, 10];
        default_normalize_score(100, false, &mut s);
        assert_eq!(s, vec![0, 50, 100]);
        let mut s = vec![0, 5, 10];
        default_normalize_score(100, true, &mut s);
        assert_eq!(s, vec![100, 50, 0]);
        let mut s = vec![0, 0];
        default_normalize_score(100, true, &mut s);
        assert_eq!(s, vec![100, 100]);
        let mut s = vec![0, 0];
        default_normalize_score(100, false, &mut s);
        assert_eq!(s, vec![0, 0]);
    }

    #[test]
    fn cycle_state_is_typed_and_clones() {
        #[derive(Clone, Debug, PartialEq)]
        struct A(u32);
        let mut st = CycleState::default();
        st.write(A(1));
        let mut copy = st.clone();
        if let Some(a) = copy.read_mut::<A>() {
            a.0 = 2;
        }
        assert_eq!(st.read::<A>(), Some(&A(1)));
        assert_eq!(copy.read::<A>(), Some(&A(2)));
    }
}
