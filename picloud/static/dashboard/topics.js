/*
 * The topics view: every event the hub has seen, its levels as folders (as
 * MQTT Explorer shows them), each with its last value and message rate,
 * from GET topics; and the retained values, from GET retained?event=#.
 * Both are polled every 3 s while this view is shown and the tab visible.
 * Polled rather than subscribed to "#": that would bring the page every
 * message of every event at the rate it is published, while the hub
 * already counts them and answers the tree in one small request. Only the
 * folders opened are drawn, MAX_CHILDREN entries at a time.
 */
(function (root) {
    "use strict";

    var D = root.PiCloudDash;
    var $ = D.$;
    var POLL_MS = 3000;
    var MAX_CHILDREN = 200;
    var OPEN_ITEM = "picloud.openTopics";
    var timer = null;
    var tree = null;          // {children: {}, topic, count, rate}
    var answer = null;        // the last GET topics answer
    var retained = null;
    var open = {};            // folder path -> true: its children are drawn
    var shownIn = {};         // folder path -> how many of its children are drawn
    try {
        open = JSON.parse(sessionStorage.getItem(OPEN_ITEM) || "{}");
    } catch (err) {
        open = {};
    }

    D.view("topics", {render: render, show: function () {
        if (D.started) {
            poll();
        }
    }, hide: function () { clearTimeout(timer); }});

    D.on("retained", function () {
        if (D.current === "topics") {
            poll();
        }
    });

    D.on("session", function (what) {
        if (what === "live" && D.current === "topics") {
            poll();  // the hub is back: poll again
        }
    });

    document.addEventListener("visibilitychange", function () {
        if (document.visibilityState === "visible" && D.current === "topics" && D.started) {
            poll();
        }
    });

    function poll() {
        clearTimeout(timer);
        var mine = D.generation;
        Promise.all([D.api("topics"), D.api("retained?event=%23")]).then(function (answers) {
            if (mine !== D.generation) {
                return;
            }
            var topics = answers[0], kept = answers[1];
            if (topics.ok) {
                answer = topics.body;
                tree = build(answer.topics);
                D.learnEvents(answer.topics.map(function (t) { return t.event; }));
                $("topics-note").hidden = true;
            } else if (topics.status !== 0) {
                // Anything else (a lost hub): keep what is shown.
                answer = tree = null;
                $("topics-note").hidden = false;
                $("topics-note").textContent = topics.status === 403 ? "The topic tree shows every event: not for this key." :
                    "No topic tree: " + D.refusal(topics) + ".";
            }
            if (kept.ok) {
                retained = kept.body.retained;
            }
            D.invalidate("topics");
            if (document.visibilityState === "visible" && D.current === "topics" && (D.live || D.limited)) {
                timer = setTimeout(poll, POLL_MS);
            }
        });
    }

    function build(topics) {
        var top = {children: {}, topic: null, count: 0, rate: 0};
        topics.forEach(function (topic) {
            var node = top;
            topic.event.split("/").forEach(function (level) {
                node.count += 1;
                node.rate += topic.rate || 0;
                node = node.children[level] = node.children[level] || {children: {}, topic: null, count: 0, rate: 0};
            });
            node.topic = topic;
        });
        return top;
    }

    function rate(value) {
        return D.number(value) + "/s";
    }

    function valueText(topic) {
        if (topic.value === null && topic.bytes > 4096) {
            return topic.bytes + " bytes, not shown";
        }
        var text = JSON.stringify(topic.value);
        return text.length > 120 ? text.slice(0, 119) + "…" : text;
    }

    function drawLevel(node, path, into) {
        var names = Object.keys(node.children).sort();
        var shown = shownIn[path] || MAX_CHILDREN;
        names.slice(0, shown).forEach(function (name) {
            var child = node.children[name];
            var full = path ? path + "/" + name : name;
            var item = D.el("li");
            item.dataset.path = full;
            var folder = Object.keys(child.children).length > 0;
            var line = D.el("div", "line");
            if (folder) {
                var toggle = D.el("button", "twisty", name);
                toggle.type = "button";
                toggle.setAttribute("aria-expanded", open[full] ? "true" : "false");
                line.appendChild(toggle);
                line.appendChild(D.el("small", "summary", child.count + (child.count === 1 ? " topic, " : " topics, ")));
                line.lastChild.appendChild(D.num(rate(child.rate)));
            } else {
                line.appendChild(D.el("span", "leaf", name));
            }
            if (child.topic) {
                var topic = child.topic;
                item.dataset.event = topic.event;
                line.appendChild(D.el("code", "value", valueText(topic)));
                line.appendChild(D.num(rate(topic.rate), "rate"));
                line.appendChild(D.el("small", "when", D.ago(topic.at)));
                if (topic.retained) {
                    line.appendChild(D.el("span", "badge", "retained"));
                }
                var watch = D.el("button", "quiet small watch", "Watch");
                watch.type = "button";
                line.appendChild(watch);
                if (D.isRecorded && D.isRecorded(topic.event)) {
                    var chart = D.el("a", "small chart-link", "Chart");
                    chart.href = "#chart?e=" + encodeURIComponent(topic.event);
                    line.appendChild(chart);
                }
            }
            item.appendChild(line);
            if (folder && open[full]) {
                var sub = D.el("ul");
                drawLevel(child, full, sub);
                item.appendChild(sub);
            }
            into.appendChild(item);
        });
        if (names.length > shown) {
            var more = D.el("button", "quiet small more", "Show " + Math.min(MAX_CHILDREN, names.length - shown) +
                            " more of " + (names.length - shown));
            more.type = "button";
            var item = D.el("li", null, null, [more]);
            item.dataset.path = path;
            into.appendChild(item);
        }
    }

    function render() {
        var list = D.clear($("topic-tree"));
        if (tree !== null) {
            drawLevel(tree, "", list);
            var shown = answer.topics.length;
            $("topics-count").textContent = shown + (answer.truncated ? "+ events (the first " + answer.limit + ")" : " events");
            $("no-topics").hidden = shown > 0;
        }
        renderRetained();
    }

    // frames: the hub's retained publish frames (GET retained), any order.
    function renderRetained() {
        if (retained === null) {
            return;
        }
        var body = D.clear($("retained").tBodies[0]);
        retained.slice().sort(function (a, b) {
            return a.event < b.event ? -1 : a.event > b.event ? 1 : 0;
        }).forEach(function (frame) {
            var row = body.insertRow();
            row.dataset.event = frame.event;
            D.eventName(D.cell(row, "", "name"), frame.event);
            D.json(D.cell(row, "", "data"), frame.data);
            D.cell(row, D.ago(frame.created_at), "when").title = D.fullTime(frame.created_at);
        });
        $("no-retained").hidden = retained.length > 0;
        $("retained").hidden = retained.length === 0;
    }

    $("topic-tree").addEventListener("click", function (e) {
        var item = e.target.closest("li");
        if (!item) {
            return;
        }
        if (e.target.closest("button.more")) {
            shownIn[item.dataset.path] = (shownIn[item.dataset.path] || MAX_CHILDREN) + MAX_CHILDREN;
            D.invalidate("topics");
        } else if (e.target.closest("button.twisty")) {
            var path = item.dataset.path;
            if (open[path]) {
                delete open[path];
            } else {
                open[path] = true;
            }
            sessionStorage.setItem(OPEN_ITEM, JSON.stringify(open));
            D.invalidate("topics");
        } else if (e.target.closest("button.watch")) {
            D.watch(item.dataset.event);
            location.hash = "#live";
        }
    });
}(this));
