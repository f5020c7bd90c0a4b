//! openenv-deploy: load-balancer config generation for multi-node deployments.
