pub mod analyze;
pub mod experiment;
pub mod health;
pub mod lb_config;
pub mod scale;
pub mod serve;
