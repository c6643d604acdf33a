"""HTTP routers, one module per area; ``app.main.ROUTERS`` lists them."""
