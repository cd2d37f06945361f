"""Workflows that use every construct of FORMAT.md, shared by the constructs' browser tests."""

ALL = """version: 1
name: constructs
inputs:
  kind: {type: string, default: invoice}
concurrency: {limit: 1, when_busy: queue}
steps:
  - id: classify
    uses: wait
    with: {seconds: 0, value: invoice}
    timeout: 20s
  - id: route
    switch: ${inputs.kind}
    cases:
      invoice:
        - {id: book, uses: wait, with: {seconds: 0, value: booked}}
      receipt:
        - {id: file_it, uses: wait, with: {seconds: 0, value: filed}}
    default:
      - {id: ask, uses: wait, with: {seconds: 0, value: asked}}
  - id: poll
    repeat: {until: "${check == 2}", max: 5}
    steps:
      - {id: check, uses: wait, with: {seconds: 0, value: "${loop.index}"}}
  - id: bookings
    parallel:
      - id: flight
        uses: wait
        with: {seconds: 0, value: {id: 7}}
        compensate:
          - {id: cancel_flight, uses: wait, with: {seconds: 0, value: "${flight.id}"}}
      - id: hotel
        uses: wait
        with: {seconds: 0, value: 2}
        compensate:
          - {id: cancel_hotel, uses: wait, with: {seconds: 0}}
    on_error: rollback
    finally:
      - {id: tidy, uses: wait, with: {seconds: 0}}
  - id: sign_off
    uses: approval
    with: {message: "Publish ${route}?", approvers: [alice], timeout: 2d}
on_failure:
  - {id: alert, uses: wait, with: {seconds: 0, value: "${error.message}"}}
finally:
  - {id: cleanup, uses: wait, with: {seconds: 0}}
"""

# every card's step path, as the engine names the step (planner.py, blocks/*.py)
PATHS = {
    "classify": "classify", "route": "route", "book": "route.book", "file_it": "route.file_it", "ask": "route.ask",
    "poll": "poll", "check": "poll.check", "bookings": "bookings", "flight": "bookings.flight",
    "cancel_flight": "bookings.flight.compensate.cancel_flight", "hotel": "bookings.hotel",
    "cancel_hotel": "bookings.hotel.compensate.cancel_hotel", "tidy": "bookings.tidy", "sign_off": "sign_off",
    "alert": "alert", "cleanup": "cleanup",
}

# a run that ends: the hotel fails, the flight is rolled back, the hooks run
FAILING = """version: 1
name: rollback-run
steps:
  - id: route
    switch: "${'a'}"
    cases:
      a:
        - {id: pick_a, uses: wait, with: {seconds: 0, value: A}}
      b:
        - {id: pick_b, uses: wait, with: {seconds: 0, value: B}}
    default:
      - {id: pick_other, uses: wait, with: {seconds: 0}}
  - id: poll
    repeat: {until: "${loop.index >= 2}", max: 4}
    steps:
      - {id: check, uses: wait, with: {seconds: 0, value: "${loop.index}"}}
  - id: bookings
    parallel:
      - id: flight
        uses: wait
        with: {seconds: 0, value: {id: 7}}
        compensate:
          - {id: cancel_flight, uses: wait, with: {seconds: 0, value: "${flight.id}"}}
      - id: hotel
        steps:
          - {id: nap, uses: wait, with: {seconds: 0.3}}
          - {id: full, uses: fail, with: {message: no room}}
    on_error: rollback
    finally:
      - {id: tidy, uses: wait, with: {seconds: 0}}
on_failure:
  - {id: alert, uses: wait, with: {seconds: 0, value: "${error.message}"}}
finally:
  - {id: cleanup, uses: wait, with: {seconds: 0}}
"""
