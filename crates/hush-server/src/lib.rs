//! hush's HTTP API, web panel and watch hub, as a library; the binary only binds and calls serve().
