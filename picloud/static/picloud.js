/*
 * PiCloud browser client, served by the hub at /picloud.js.
 *
 * Same API as the original picloud-client, so a page switches by changing
 * its script tag:
 *
 *     var picloud = new PiCloudSocketClient("wss://hub.example", "KEY", "kitchen-page");
 *     picloud.subReady(function () { picloud.subscribe("temperature", function (m) { ... }); });
 *     picloud.pubReady(function () { picloud.publish("temperature", "21.5"); });
 *
 * What it adds:
 * - subReady()/pubReady() also return a promise; every callback given is
 *   called (the original kept only the last one).
 * - Automatic reconnect with exponential backoff and jitter; subscriptions
 *   are sent again on every reconnect, and subscribe() works before the
 *   socket is open.
 * - publish() takes any JSON value; messages published while the publish
 *   socket is down are kept (up to options.maxQueued) and sent on reconnect.
 * - Resume from history: the subscribe socket opts in with ?protocol=2. When
 *   the hub puts "seq" (and "epoch") on publish frames, the client remembers
 *   the last of each event and re-subscribes with
 *   {"since": {"seq": S, "epoch": E}}, so the hub can replay what was missed.
 *   A hub without history sends neither, and then no "since" is sent.
 *   A message at or below the remembered seq of its epoch is a repeat (a
 *   retained value sent again after a hub restart, say) and is dropped; a
 *   retained value does not move the position of an event under way (the
 *   replay after it starts lower), and the replay's copy of it is dropped.
 *   When the hub could not resume ("recovered": false: it restarted without
 *   its history, or no longer keeps what was missed), ongap(frame) is called
 *   with its "subscribed" frame; what it still keeps arrives anyway.
 * - Wildcard subscriptions ("home/+", "home/#"): their callbacks get every
 *   message they match.
 * - PiCloudClient.connect(...) is a promise-based variant (see below).
 *
 * The publish socket is opened on the first pubReady() or publish() call,
 * so a page that only subscribes holds one connection.
 */
(function (root) {
    "use strict";

    var DEFAULTS = {minDelay: 500, maxDelay: 30000, maxQueued: 1000, protocol: 2};

    function wsBase(url) {
        return url.replace(/^http(s?):/, "ws$1:").replace(/\/+$/, "");
    }

    // Does the wildcard filter match the event name? "+" is one level, a
    // final "#" any number (none included); neither matches a first level
    // starting with "$" (the hub's rules, docs/protocol.rst "Wildcards").
    function topicMatches(filter, event) {
        var f = filter.split("/");
        if (f.indexOf("+") < 0 && f.indexOf("#") < 0) {
            return false;
        }
        var e = event.split("/");
        if ((f[0] === "+" || f[0] === "#") && e[0].charAt(0) === "$") {
            return false;
        }
        for (var i = 0; i < f.length; i++) {
            if (f[i] === "#") {
                return i === f.length - 1;
            }
            if (i >= e.length || (f[i] !== "+" && f[i] !== e[i])) {
                return false;
            }
        }
        return f.length === e.length;
    }

    // One websocket that comes back after every close until stop() is called.
    function ReconnectingSocket(url, options, handlers) {
        this.url = url;
        this.options = options;
        this.handlers = handlers;
        this.state = "connecting";
        this.attempt = 0;
        this.ws = null;
        this._timer = null;
        this._open();
    }

    ReconnectingSocket.prototype._open = function () {
        var self = this;
        var ws = new WebSocket(self.url);
        self.ws = ws;
        self._set("connecting");
        ws.onopen = function () {
            self.attempt = 0;
            self._set("open");
            self.handlers.open();
        };
        ws.onmessage = function (event) {
            self.handlers.message(event.data);
        };
        ws.onclose = function (event) {
            if (self.ws !== ws) {
                return;
            }
            self.ws = null;
            if (self.state === "stopped") {
                return;
            }
            self._set("reconnecting", event);
            self._timer = setTimeout(function () {
                self._timer = null;
                self._open();
            }, self.delay());
        };
    };

    // Exponential backoff with jitter, so devices do not all return at once.
    ReconnectingSocket.prototype.delay = function () {
        var o = this.options;
        var base = Math.min(o.maxDelay, o.minDelay * Math.pow(2, this.attempt));
        this.attempt += 1;
        return Math.round(base / 2 + Math.random() * base / 2);
    };

    ReconnectingSocket.prototype.send = function (text) {
        if (this.ws === null || this.ws.readyState !== WebSocket.OPEN) {
            return false;
        }
        this.ws.send(text);
        return true;
    };

    ReconnectingSocket.prototype.stop = function () {
        this._set("stopped");
        clearTimeout(this._timer);
        if (this.ws !== null) {
            this.ws.close(1000);
        }
    };

    ReconnectingSocket.prototype._set = function (state, closeEvent) {
        this.state = state;
        if (this.handlers.state) {
            this.handlers.state(state, closeEvent);
        }
    };

    // Calls every callback once, and resolves a promise, when first ready.
    function Readiness() {
        var self = this;
        self.ready = false;
        self.callbacks = [];
        self.promise = new Promise(function (resolve) {
            self.resolve = resolve;
        });
    }

    Readiness.prototype.wait = function (cb) {
        if (typeof cb === "function") {
            if (this.ready) {
                cb();
            } else {
                this.callbacks.push(cb);
            }
        }
        return this.promise;
    };

    Readiness.prototype.fire = function () {
        if (this.ready) {
            return;
        }
        this.ready = true;
        this.resolve();
        var callbacks = this.callbacks;
        this.callbacks = [];
        callbacks.forEach(function (cb) { cb(); });
    };

    function PiCloudSocketClient(url, apiKey, clientName, options) {
        if (typeof url !== "string") {
            throw new Error("'url' must be a string");
        }
        if (typeof apiKey !== "string") {
            throw new Error("'apiKey' must be a string");
        }
        if (typeof clientName !== "string") {
            throw new Error("'clientName' must be a string");
        }
        var self = this;
        self.options = Object.assign({}, DEFAULTS, options || {});
        self._subscriptions = {};
        self._positions = {};  // event -> {seq, epoch} of the last message seen
        self._retainedAt = {};  // event -> {seq, epoch} of a retained value sent on resume
        self._queued = [];
        self._subReady = new Readiness();
        self._pubReady = new Readiness();
        self._pubSocket = null;
        self._query = "?apiKey=" + encodeURIComponent(apiKey) +
            "&clientName=" + encodeURIComponent(clientName);
        self._base = wsBase(url);
        // Hooks a page may set: onstate(socketName, state, closeEvent),
        // onerror(errorFrame), onframe(frame) for other protocol=2 frames,
        // ongap(subscribedFrame) when a resume could not recover everything.
        self.onstate = null;
        self.onerror = null;
        self.onframe = null;
        self.ongap = null;
        var protocol = self.options.protocol ? "&protocol=" + self.options.protocol : "";
        self._subSocket = new ReconnectingSocket(self._base + "/subscribe" + self._query + protocol, self.options, {
            open: function () {
                Object.keys(self._subscriptions).forEach(function (event) {
                    self._sendSubscribe(event);
                });
                self._subReady.fire();
            },
            message: function (text) { self._onSubscribeFrame(text); },
            state: function (state, closeEvent) { self._state("subscribe", state, closeEvent); }
        });
    }

    PiCloudSocketClient.prototype._state = function (name, state, closeEvent) {
        if (typeof this.onstate === "function") {
            this.onstate(name, state, closeEvent);
        }
    };

    PiCloudSocketClient.prototype._openPublish = function () {
        var self = this;
        if (self._pubSocket !== null) {
            return;
        }
        self._pubSocket = new ReconnectingSocket(self._base + "/publish" + self._query, self.options, {
            open: function () {
                var queued = self._queued;
                self._queued = [];
                queued.forEach(function (item) {
                    self._pubSocket.send(item.text);
                    if (item.sent) {
                        item.sent();
                    }
                });
                self._pubReady.fire();
            },
            message: function (text) { self._onFrame(text); },
            state: function (state, closeEvent) { self._state("publish", state, closeEvent); }
        });
    };

    PiCloudSocketClient.prototype._onFrame = function (text) {
        var frame;
        try {
            frame = JSON.parse(text);
        } catch (e) {
            return;
        }
        if (frame && frame.action === "error") {
            if (typeof this.onerror === "function") {
                this.onerror(frame);
            }
            return null;
        }
        return frame;
    };

    PiCloudSocketClient.prototype._onSubscribeFrame = function (text) {
        var message = this._onFrame(text);
        if (!message) {
            return;
        }
        if (message.action !== "publish") {
            if (message.action === "subscribed" && message.recovered === false &&
                    typeof this.ongap === "function") {
                this.ongap(message);
            }
            if (typeof this.onframe === "function") {
                this.onframe(message);
            }
            return;
        }
        if (!this._fresh(message)) {
            return;
        }
        // The hub delivers a message once per connection however many of its
        // subscriptions match, so every matching subscription's callbacks run.
        var subscriptions = this._subscriptions;
        var callbacks = [];
        Object.keys(subscriptions).forEach(function (e) {
            if (e === message.event || topicMatches(e, message.event)) {
                callbacks = callbacks.concat(subscriptions[e]);
            }
        });
        callbacks.forEach(function (cb) { cb(message); });
    };

    // Whether to deliver a publish frame (false: a repeat); moves the position.
    PiCloudSocketClient.prototype._fresh = function (message) {
        var event = message.event, seq = message.seq, epoch = message.epoch;
        if (typeof seq !== "number") {
            return true;  // unnumbered: a hub without history, presence
        }
        var at = this._positions[event];
        if (at && at.epoch === epoch && seq <= at.seq) {
            return false;
        }
        if (message.retained === true) {
            if (at) {
                this._retainedAt[event] = {seq: seq, epoch: epoch};
            } else {
                this._positions[event] = {seq: seq, epoch: epoch};
            }
            return true;
        }
        this._positions[event] = {seq: seq, epoch: epoch};
        var retained = this._retainedAt[event];
        if (retained && (retained.epoch !== epoch || seq >= retained.seq)) {
            delete this._retainedAt[event];
            return !(retained.epoch === epoch && retained.seq === seq);
        }
        return true;
    };

    // Unsubscribed from e: for a wildcard filter, every event but the exact
    // subscriptions, so that subscribing again delivers retained values again.
    PiCloudSocketClient.prototype._forget = function (e) {
        var self = this;
        var filter = e.split("/").some(function (level) { return level === "+" || level === "#"; });
        var names = filter ? Object.keys(self._positions) : [e];
        names.forEach(function (name) {
            if (!filter || !(name in self._subscriptions)) {
                delete self._positions[name];
                delete self._retainedAt[name];
            }
        });
    };

    PiCloudSocketClient.prototype._sendSubscribe = function (event) {
        var frame = {action: "subscribe", event: event};
        var position = this._positions[event];
        if (position) {
            frame.since = position;
        }
        this._subSocket.send(JSON.stringify(frame));
    };

    PiCloudSocketClient.prototype.subReady = function (cb) {
        return this._subReady.wait(cb);
    };

    PiCloudSocketClient.prototype.pubReady = function (cb) {
        this._openPublish();
        return this._pubReady.wait(cb);
    };

    PiCloudSocketClient.prototype.subscribe = function (e, cb) {
        if (typeof e !== "string") {
            throw new Error("'e' must be a string");
        }
        if (typeof cb !== "function") {
            throw new Error("'cb' must be a function");
        }
        if (e in this._subscriptions) {
            this._subscriptions[e].push(cb);
        } else {
            this._subscriptions[e] = [cb];
            this._sendSubscribe(e);  // if closed, the next open sends it
        }
    };

    // Without cb, drops every callback of the event and the subscription.
    PiCloudSocketClient.prototype.unsubscribe = function (e, cb) {
        var callbacks = this._subscriptions[e];
        if (!callbacks) {
            return;
        }
        if (typeof cb === "function") {
            callbacks = callbacks.filter(function (c) { return c !== cb; });
            this._subscriptions[e] = callbacks;
            if (callbacks.length) {
                return;
            }
        }
        delete this._subscriptions[e];
        this._forget(e);
        this._subSocket.send(JSON.stringify({action: "unsubscribe", event: e}));
    };

    // data may be any JSON value; left out, subscribers get null. Returns
    // true when sent now, false when queued until the socket is back.
    PiCloudSocketClient.prototype.publish = function (e, data) {
        return this._publish(e, data, null);
    };

    PiCloudSocketClient.prototype._publish = function (e, data, sent) {
        if (typeof e !== "string") {
            throw new Error("'e' must be a string");
        }
        var message = {action: "publish", event: e};
        if (data !== undefined) {
            message.data = data;
        }
        var text = JSON.stringify(message);
        this._openPublish();
        if (this._pubSocket.send(text)) {
            if (sent) {
                sent();
            }
            return true;
        }
        if (this._queued.length >= this.options.maxQueued) {
            throw new Error("publish queue full (" + this.options.maxQueued + " messages waiting for the hub)");
        }
        this._queued.push({text: text, sent: sent});
        return false;
    };

    PiCloudSocketClient.prototype.close = function () {
        this._subSocket.stop();
        if (this._pubSocket !== null) {
            this._pubSocket.stop();
        }
    };

    /*
     * Promise-based variant:
     *
     *     const hub = await PiCloudClient.connect("wss://hub.example", "KEY", "page");
     *     await hub.subscribe("temperature", (m) => console.log(m.data));
     *     await hub.publish("temperature", {celsius: 21.5});
     *     const next = await hub.next("temperature");
     *
     * connect() resolves once both sockets are open. publish() resolves when
     * the message was written to an open socket (the hub does not confirm
     * it unless acknowledgements exist), subscribe() when the subscription
     * was sent.
     */
    function PiCloudClient(url, apiKey, clientName, options) {
        this.socketClient = new PiCloudSocketClient(url, apiKey, clientName, options);
    }

    PiCloudClient.connect = function (url, apiKey, clientName, options) {
        var hub = new PiCloudClient(url, apiKey, clientName, options);
        var sc = hub.socketClient;
        return Promise.all([sc.subReady(), sc.pubReady()]).then(function () { return hub; });
    };

    PiCloudClient.prototype.subscribe = function (event, cb) {
        var sc = this.socketClient;
        sc.subscribe(event, cb);
        return sc.subReady();
    };

    PiCloudClient.prototype.unsubscribe = function (event, cb) {
        this.socketClient.unsubscribe(event, cb);
        return Promise.resolve();
    };

    PiCloudClient.prototype.publish = function (event, data) {
        var sc = this.socketClient;
        return new Promise(function (resolve, reject) {
            try {
                sc._publish(event, data, resolve);
            } catch (e) {
                reject(e);
            }
        });
    };

    // The next message of an already subscribed event.
    PiCloudClient.prototype.next = function (event) {
        var sc = this.socketClient;
        return new Promise(function (resolve) {
            var once = function (message) {
                sc._subscriptions[event] = (sc._subscriptions[event] || []).filter(function (c) {
                    return c !== once;
                });
                resolve(message);
            };
            if (!(event in sc._subscriptions)) {
                throw new Error("not subscribed to " + JSON.stringify(event));
            }
            sc._subscriptions[event].push(once);
        });
    };

    PiCloudClient.prototype.close = function () {
        this.socketClient.close();
    };

    root.PiCloudSocketClient = PiCloudSocketClient;
    root.PiCloudClient = PiCloudClient;
}(typeof self !== "undefined" ? self : this));
