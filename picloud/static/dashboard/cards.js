/*
 * An overview card (overview.js): its elements, made once, and drawing it
 * again from what the card holds: {event, group, series: [{field, unit,
 * value, last}], spark: {field: {t, mean, step}}, sparkFrom}. The first
 * series is the card's value; up to maxFields are listed; the sparkline is
 * an SVG line of the first series' means from sparkFrom to now.
 */
(function (root) {
    "use strict";

    var D = root.PiCloudDash;

    D.cardShell = function (card) {
        var link = D.el("a", "card");
        link.href = "#chart?e=" + encodeURIComponent(card.event);
        link.dataset.event = card.event;
        link.title = card.event;
        var parts = {root: link, title: D.el("h3", null, D.labelIn(card.event, card.group)),
                     value: D.num("–", "value"), unit: D.el("span", "unit"), fields: D.el("ul", "fields"),
                     spark: document.createElementNS("http://www.w3.org/2000/svg", "svg"),
                     when: D.el("small", "when")};
        parts.spark.setAttribute("class", "spark");
        parts.spark.setAttribute("viewBox", "0 0 100 30");
        parts.spark.setAttribute("preserveAspectRatio", "none");
        parts.spark.setAttribute("aria-hidden", "true");
        link.appendChild(parts.title);
        link.appendChild(D.el("div", "reading", null, [parts.value, parts.unit]));
        link.appendChild(parts.fields);
        link.appendChild(parts.spark);
        link.appendChild(parts.when);
        return parts;
    };

    D.drawCard = function (card, maxFields) {
        var parts = card.el, main = card.series[0], last = 0;
        card.series.forEach(function (s) { last = Math.max(last, s.last || 0); });
        parts.value.textContent = main ? D.number(main.value) : "–";
        parts.unit.textContent = main && main.unit ? main.unit : "";
        parts.root.classList.toggle("many", card.series.length > 1);
        if (main && main.field) {
            parts.value.title = main.field;
        }
        D.clear(parts.fields);
        card.series.slice(1, maxFields).forEach(function (s) {
            var item = D.el("li", null, s.field + " ");
            item.appendChild(D.num(D.number(s.value) + (s.unit ? " " + s.unit : "")));
            parts.fields.appendChild(item);
        });
        if (card.series.length > maxFields) {
            parts.fields.appendChild(D.el("li", "more", "and " + (card.series.length - maxFields) + " more"));
        }
        parts.when.textContent = last ? D.ago(last) : "";
        parts.when.title = last ? D.fullTime(last) : "";
        drawSpark(parts.spark, card, main);
    };

    function drawSpark(svg, card, main) {
        var spark = main && card.spark && card.spark[main.field];
        D.clear(svg);
        if (!spark || spark.t.length < 2) {
            return;
        }
        var from = card.sparkFrom, to = Math.max(D.now(), spark.t[spark.t.length - 1]);
        var low = Math.min.apply(null, spark.mean), high = Math.max.apply(null, spark.mean);
        var range = high - low || 1;
        var points = spark.t.map(function (t, i) {
            var x = (t - from) / (to - from) * 100;
            return x.toFixed(2) + "," + (28 - (spark.mean[i] - low) / range * 26).toFixed(2);
        });
        var line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
        line.setAttribute("points", points.join(" "));
        svg.appendChild(line);
    }
}(this));
