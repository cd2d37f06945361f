// The run's websocket: snapshot, then event frames; on a drop it reconnects with ?after=N
// so the view catches up without gaps, and says so in the connection indicator.

/**
 * Connect to `ws/runs/<id>/`. handlers: onSnapshot(msg), onEvents(list), onState(state)
 * with state one of "connecting", "live", "reconnecting", "refused".
 * `lastSeq()` tells where the view is (for ?after=N).
 */
export function connectRun(runId, {onSnapshot, onEvents, onState, lastSeq}) {
  let ws = null;
  let delay = 500;
  let stopped = false;
  let opened = false;

  function open() {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const after = opened ? `?after=${lastSeq()}` : "";
    onState(opened ? "reconnecting" : "connecting");
    performance.mark("wf:connect");
    ws = new WebSocket(`${proto}://${location.host}/ws/runs/${runId}/${after}`);
    ws.onopen = () => {
      delay = 500;
      if (opened) onState("live");
    };
    ws.onmessage = (e) => {
      const msg = JSON.parse(e.data);
      if (msg.type === "snapshot") {
        performance.mark("wf:snapshot");
        opened = true;
        onSnapshot(msg);
        onState("live");
      } else if (msg.type === "events") {
        if (!opened) opened = true;
        onEvents(msg.events);
        onState("live");
      }
    };
    ws.onclose = (e) => {
      if (stopped) return;
      if (e.code === 4401 || e.code === 4403) {
        onState("refused");
        return;
      }
      onState("reconnecting");
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 5000);
    };
  }
  open();
  return {
    /** Ask the server to cancel the run. */
    cancel: () => ws?.readyState === WebSocket.OPEN && ws.send(JSON.stringify({type: "cancel"})),
    /** Drop the connection as a network would (tests and the "reconnect" button use it). */
    drop: () => ws?.close(),
    close: () => { stopped = true; ws?.close(); },
  };
}
