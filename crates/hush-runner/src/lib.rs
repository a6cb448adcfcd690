//! Delivery into a running app: secrets file, environment, watch stream, restarts. Shared by hush run and server-launched apps.
