/*
 * The overview: one card per recorded event, grouped by the device its name
 * says (values.js D.groupOf), with its latest value and unit, when it came,
 * and a sparkline of the last hours. What is recorded comes from GET
 * readings/events (again every minute while shown), the sparklines from
 * GET readings/sparklines, and the cards follow each event live: the page
 * subscribes to the events it shows, by name: at most MAX_LIVE cards.
 * A card that changes is drawn again in the next frame, alone.
 */
(function (root) {
    "use strict";

    var D = root.PiCloudDash;
    var $ = D.$;
    var EVENTS_MS = 60000;
    var SPARK_MS = 300000;
    var SPARK_FROM = "-6h";
    var MAX_LIVE = 500;
    var MAX_FIELDS = 3;       // fields listed on a card; the chart has them all

    var cards = {};           // event -> card
    var order = [];           // the events, as drawn
    var rebuild = true;       // the set of cards changed
    var changed = {};         // events whose card needs drawing
    var eventsTimer = null, sparkTimer = null, tickTimer = null;
    var loading = false;      // a GET readings/events on its way
    var note = null;          // why there are no cards, if there are none
    D.recorded = {};          // event -> its entry of GET readings/events

    D.isRecorded = function (event) { return Object.prototype.hasOwnProperty.call(D.recorded, event); };

    D.view("overview", {render: render, every: 100, show: function () {
        if (D.started && !loading) {  // not twice at the start
            loadEvents();
        }
    }});

    D.on("session", function (what) {
        if (what === "live" && !loading) {
            loadEvents();  // back after the hub was away: it may have restarted
        } else if (what === "started") {
            loadEvents();
            clearInterval(tickTimer);
            tickTimer = setInterval(function () { D.invalidate("overview"); }, 5000);
        } else if (what === "stopped") {
            clearTimeout(eventsTimer);
            clearTimeout(sparkTimer);
            clearInterval(tickTimer);
            Object.keys(cards).forEach(function (event) {
                if (cards[event].live) {
                    D.unsubscribe(event, cards[event].live);
                }
            });
            cards = {};
            D.recorded = {};
            rebuild = true;
        }
    });

    function loadEvents() {
        clearTimeout(eventsTimer);
        loading = true;
        var mine = D.generation;
        D.api("readings/events").then(function (answer) {
            loading = false;
            if (mine !== D.generation) {
                return;
            }
            if (answer.ok) {
                var events = answer.body.events.filter(function (entry) {
                    return entry.series.length && !DISCOVERY.test(entry.event);
                });
                note = events.length ? null :
                    "Nothing recorded yet. A number published to any event (21.5, {\"celsius\": 21.5}) shows up here.";
                merge(events);
            } else if (answer.status !== 0) {
                note = answer.status === 404 ? "This hub records no readings (it runs with --no-record, " +
                    "or with Redis without --record): the overview shows recorded events." : D.refusal(answer);
            }
            D.invalidate("overview");
            D.emit("recorded", null);
            if (D.current === "overview") {
                eventsTimer = setTimeout(loadEvents, EVENTS_MS);
            }
        });
    }

    // Events with numbers, less Home Assistant's discovery configs (what
    // they say is the unit of other events' readings).
    var DISCOVERY = /^homeassistant\/.+\/config$/;

    function merge(events) {
        var fresh = [];
        events.forEach(function (entry) {
            D.recorded[entry.event] = entry;
            var card = cards[entry.event];
            if (!card) {
                card = cards[entry.event] = {event: entry.event, group: D.groupOf(entry.event), series: [], spark: null,
                                             live: null, el: null};
                fresh.push(entry.event);
                rebuild = true;
            }
            card.series = entry.series.map(function (s) {
                var had = find(card, s.field);
                // A live value newer than what was recorded stays.
                return had && had.last > s.last ? had : {field: s.field, unit: s.unit, value: s.value, last: s.last};
            });
            changed[entry.event] = true;
        });
        D.learnEvents(events.map(function (e) { return e.event; }));
        if (fresh.length) {
            loadSparklines(fresh.length === Object.keys(cards).length ? null : fresh);
        }
    }

    function find(card, field) {
        for (var i = 0; i < card.series.length; i++) {
            if (card.series[i].field === field) {
                return card.series[i];
            }
        }
        return null;
    }

    function onLive(card, message) {
        // A retained value sent on subscribing came when it was published.
        var at = Date.parse(message.created_at);
        var now = isFinite(at) ? at / 1000 : D.now();
        var unit = message.data && typeof message.data === "object" && typeof message.data.unit === "string" ? message.data.unit : null;
        D.numbers(message.data).forEach(function (pair) {
            var series = find(card, pair[0]);
            if (!series) {
                series = {field: pair[0], unit: unit, value: null, last: 0};
                card.series.push(series);
            }
            series.value = pair[1];
            series.last = now;
            var spark = card.spark && card.spark[pair[0]];
            var n = spark ? spark.t.length : 0;
            if (spark && (!n || now > spark.t[n - 1])) {
                // One live point per step: the newest replaces the one before it.
                if (spark.live && now - spark.t[n - 2] < spark.step) {
                    spark.t[n - 1] = now;
                    spark.mean[n - 1] = pair[1];
                } else {
                    spark.t.push(now);
                    spark.mean.push(pair[1]);
                    spark.live = true;
                }
            }
        });
        changed[card.event] = true;
        D.invalidate("overview");
    }

    function loadSparklines(only) {
        clearTimeout(sparkTimer);
        var mine = D.generation;
        var query = "readings/sparklines?from=" + SPARK_FROM + "&points=60";
        (only || []).forEach(function (event) { query += "&event=" + encodeURIComponent(event); });
        D.api(query).then(function (answer) {
            if (mine !== D.generation || !answer.ok) {
                return;  // no sparklines (an older hub): the cards go without
            }
            var body = answer.body;
            Object.keys(body.events).forEach(function (event) {
                var card = cards[event];
                if (card) {
                    card.spark = {};
                    card.sparkFrom = body.from;
                    body.events[event].forEach(function (s) {
                        card.spark[s.field] = {t: s.t.slice(), mean: s.mean.slice(), step: body.step};
                    });
                    changed[event] = true;
                }
            });
            D.invalidate("overview");
            sparkTimer = setTimeout(function () { loadSparklines(null); }, SPARK_MS);
        });
    }

    // -- drawing ------------------------------------------------------------------

    function build() {
        var into = D.clear($("cards"));
        var groups = {};
        Object.keys(cards).forEach(function (event) {
            var group = cards[event].group;
            (groups[group] = groups[group] || []).push(event);
        });
        order = [];
        var drawn = 0;
        Object.keys(groups).sort(function (a, b) {
            return (a === "") - (b === "") || (a < b ? -1 : a > b ? 1 : 0);
        }).forEach(function (group) {
            var section = D.el("section", "group");
            section.appendChild(D.el("h2", null, group || "Other events"));
            var grid = D.el("div", "grid");
            groups[group].sort().forEach(function (event) {
                var card = cards[event];
                if (drawn >= MAX_LIVE) {
                    card.el = null;
                    if (card.live) {
                        D.unsubscribe(event, card.live);
                        card.live = null;
                    }
                    return;
                }
                drawn += 1;
                if (!card.live) {
                    card.live = function (message) { onLive(card, message); };
                    D.subscribe(event, card.live);
                }
                card.el = D.cardShell(card);
                grid.appendChild(card.el.root);
                order.push(event);
                changed[event] = true;
            });
            if (grid.firstChild) {
                section.appendChild(grid);
                into.appendChild(section);
            }
        });
        var left = Object.keys(cards).length - drawn;
        if (left > 0) {
            into.appendChild(D.el("p", "empty", left + " more recorded events than the overview shows: " +
                                  "they are on the Charts tab."));
        }
        rebuild = false;
    }

    function render() {
        var empty = Object.keys(cards).length === 0;
        $("overview-note").hidden = !empty || note === null;
        $("overview-note").textContent = note || "";
        if (rebuild) {
            build();
        }
        order.forEach(function (event) {
            var card = cards[event];
            if (changed[event]) {
                D.drawCard(card, MAX_FIELDS);
            } else {
                var last = 0;
                card.series.forEach(function (s) { last = Math.max(last, s.last || 0); });
                card.el.when.textContent = last ? D.ago(last) : "";
            }
        });
        changed = {};
    }
}(this));
