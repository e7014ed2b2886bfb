/*
 * The live view: a tail of the events a person watches (wildcards
 * allowed), and the form that publishes a test message. Messages of a
 * burst are queued and drawn once a frame, the newest TAIL_ROWS kept.
 */
(function (root) {
    "use strict";

    var D = root.PiCloudDash;
    var $ = D.$;
    var WATCH_ITEM = "picloud.watched";
    var TAIL_ROWS = 200;
    var watched = [];
    var callbacks = {};   // watched event -> its callback
    var pending = [];     // messages not drawn yet, oldest first

    D.view("live", {render: render, every: 100});

    D.watchedEvents = function () { return watched.slice(); };

    D.on("refused", function (frame) {
        $("watch-error").hidden = false;
        $("watch-error").textContent = "refused: " + frame.error;
    });

    D.on("session", function (what) {
        if (what === "stopped") {
            $("watch-error").hidden = true;
        }
    });

    function watch(event) {
        callbacks[event] = function (message) {
            pending.push({message: message, at: new Date()});
            if (pending.length > TAIL_ROWS) {
                pending.shift();
            }
            D.invalidate("live");
        };
        D.subscribe(event, callbacks[event]);
    }

    function render() {
        if (!pending.length) {
            return;
        }
        var body = $("tail").tBodies[0];
        var rows = document.createDocumentFragment();
        for (var i = pending.length - 1; i >= 0; i--) {
            var message = pending[i].message;
            var row = document.createElement("tr");
            row.dataset.event = message.event;
            var when = D.cell(row, pending[i].at.toLocaleTimeString(), "when");
            when.title = message.created_at;
            D.eventName(D.cell(row, "", "name"), message.event);
            D.json(D.cell(row, "", "data"), message.data);
            rows.appendChild(row);
        }
        pending = [];
        body.insertBefore(rows, body.firstChild);
        while (body.rows.length > TAIL_ROWS) {
            body.deleteRow(-1);
        }
        $("no-messages").hidden = true;
    }

    function renderWatched() {
        var list = D.clear($("watched"));
        watched.forEach(function (event) {
            var item = D.el("li", null, event);
            var remove = D.el("button", null, "×");
            remove.type = "button";
            remove.title = "stop watching " + event;
            remove.addEventListener("click", function () {
                watched = watched.filter(function (e) { return e !== event; });
                sessionStorage.setItem(WATCH_ITEM, JSON.stringify(watched));
                // Only the tail's callback: other views may share the event.
                D.unsubscribe(event, callbacks[event]);
                delete callbacks[event];
                renderWatched();
            });
            item.appendChild(remove);
            list.appendChild(item);
        });
    }

    // Watch an event from elsewhere (the topic tree), then show the tail.
    D.watch = function (event) {
        if (watched.indexOf(event) < 0) {
            watched.push(event);
            sessionStorage.setItem(WATCH_ITEM, JSON.stringify(watched));
            watch(event);
            renderWatched();
        }
    };

    $("watch-form").addEventListener("submit", function (e) {
        e.preventDefault();
        var event = $("watch-event").value;
        if (event) {
            D.watch(event);
        }
        $("watch-event").value = "";
    });

    $("publish-form").addEventListener("submit", function (e) {
        e.preventDefault();
        var result = $("publish-result");
        var data = $("pub-data").value;
        if (!$("pub-string").checked) {
            // The CLI's rule: what parses as JSON is sent as that value.
            try {
                data = JSON.parse(data);
            } catch (err) {
                // not JSON: sent as the text it is
            }
        }
        var message = {event: $("pub-event").value, data: data};
        var retain = $("pub-retain").checked;
        if (retain) {
            message.retain = true;
        }
        result.className = "";
        result.textContent = "publishing…";
        D.api("publish", {
            method: "POST",
            headers: {"X-API-Client-Name": D.clientName, "Content-Type": "application/json"},
            body: JSON.stringify(message)
        }).then(function (answer) {
            if (answer.status === 201) {
                result.textContent = "published at " + new Date().toLocaleTimeString();
                if (retain) {
                    D.emit("retained", message.event);
                }
                return;
            }
            result.className = "error";
            result.textContent = answer.status === 0 ? "hub unreachable, not published" :
                "refused: " + ((answer.body && answer.body.error) || answer.status);
        });
    });

    try {
        watched = JSON.parse(sessionStorage.getItem(WATCH_ITEM) || "[]");
    } catch (err) {
        watched = [];
    }
    watched.forEach(watch);
    renderWatched();
}(this));
