"""The web console: a static page under /console that calls the query API's own routes with the
signed-in credential (so it sees exactly what the API would return), and the pipeline summary the
page's admin view reads (`GET /v1/admin/pipeline`)."""
