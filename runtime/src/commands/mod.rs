pub mod exec;
pub mod info;
pub mod lifecycle;
pub mod run;
pub mod spec;
pub mod state;
