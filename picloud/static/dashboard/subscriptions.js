/*
 * The page's one picloud.js client on /subscribe (protocol=2), opened by
 * the session (connection.js), for everything the page subscribes to:
 * presence ($SYS/clients/+, retained by the hub: D.devices and "presence"
 * on the bus), the events the overview and the charts show, the tail's.
 * Views ask through D.subscribe/D.unsubscribe, which outlive a logout: what
 * they want is subscribed again by the next session's client.
 */
(function (root) {
    "use strict";

    var D = root.PiCloudDash;
    var PRESENCE = "$SYS/clients/";
    // Names earlier loads of this page gave themselves (see clientName).
    var PAST_DASHBOARD = /^dashboard-[0-9a-f]{4}$/;
    var wsBase = D.base.href.replace(/^http/, "ws").replace(/\/+$/, "");
    var client = null;
    var wanted = {};          // event -> callbacks, kept across sessions
    var heard = {};           // client names the socket spoke of since it opened
    D.devices = {};           // client name -> {online, since}

    D.openClient = function (mine) {
        client = new PiCloudSocketClient(wsBase, D.key, D.clientName);
        client.onerror = function (frame) {
            // A subscription the key's topics do not cover, for instance.
            if (mine === D.generation) {
                D.emit("refused", frame);
            }
        };
        client.onstate = function (socket, state) {
            // After a reconnect the hub sends every presence value again.
            if (socket === "subscribe" && state === "open" && mine === D.generation && opened++) {
                D.devices = {};
                heard = {};
                D.emit("presence", null);
                loadPresence(mine);
            }
        };
        var opened = 0;
        heard = {};
        loadPresence(mine);
        client.subscribe(PRESENCE + "+", function (message) { onPresence(mine, message); });
        Object.keys(wanted).forEach(function (event) {
            wanted[event].forEach(function (callback) { client.subscribe(event, callback); });
        });
    };

    D.closeClient = function () {
        if (client !== null) {
            client.close();
            client = null;
        }
        D.devices = {};
    };

    // Every presence value at once, in one answer, while the socket's copies
    // of them come one frame each (a thousand take the hub and the browser
    // half a second): the socket's word on a name is newer, so it stands.
    function loadPresence(mine) {
        D.api("retained?event=" + encodeURIComponent(PRESENCE + "+")).then(function (answer) {
            if (mine !== D.generation || !answer.ok) {
                return;  // a key without presence rights sees it from the socket, or not at all
            }
            answer.body.retained.forEach(function (frame) {
                var name = frame.event.slice(PRESENCE.length);
                if (!heard[name]) {
                    apply(name, frame.data);
                }
            });
            D.emit("presence", null);
        });
    }

    function onPresence(mine, message) {
        if (mine !== D.generation) {
            return;
        }
        var name = message.event.slice(PRESENCE.length);
        heard[name] = true;
        apply(name, message.data);
        D.emit("presence", name);
    }

    function apply(name, data) {
        if (data === null || typeof data !== "object") {
            delete D.devices[name];  // the hub forgot the name
        } else if (!data.online && name !== D.clientName && PAST_DASHBOARD.test(name)) {
            // Every tab of this page is a client of its own: closed ones are clutter.
            delete D.devices[name];
        } else {
            D.devices[name] = {online: data.online === true, since: data.since};
        }
    }

    D.subscribe = function (event, callback) {
        (wanted[event] = wanted[event] || []).push(callback);
        if (client !== null) {
            client.subscribe(event, callback);
        }
    };

    D.unsubscribe = function (event, callback) {
        var callbacks = (wanted[event] || []).filter(function (c) { return c !== callback; });
        if (callbacks.length) {
            wanted[event] = callbacks;
        } else {
            delete wanted[event];
        }
        if (client !== null) {
            client.unsubscribe(event, callback);
        }
    };

    // The events this page subscribes to for its own views.
    D.ownSubscriptions = function () {
        var own = {};
        own[PRESENCE + "+"] = true;
        Object.keys(wanted).forEach(function (event) { own[event] = true; });
        return own;
    };

}(this));
