# The contract's floor: bare net/http plus only what the function contract
# makes every template do per call, which no watchdog can avoid: serve with
# the templates' http.Server limits (-timeouts) and answer with X-Call-Id
# and X-Duration-Seconds (-headers=2). The bare image's binary, run with
# cmd/echo's flags; cmd/callcost's floor is the same command.
ARG BARE_IMAGE=localhost/inproc-bench/bare:latest
FROM ${BARE_IMAGE}
CMD ["/home/app/handler", "-timeouts", "-headers=2"]
