//! Unit tests of the Job controller's decisions.
