/*
 * The page's views, one shown at a time by the address's fragment
 * (#overview, #chart?..., #devices, #topics, #live, #hub), the header's
 * theme toggle, and the start. Each view is a module of its own
 * (overview.js, chart.js, devices.js, topics.js, live.js, hub.js) over the
 * shared state and connection (core.js, connection.js).
 */
(function (root) {
    "use strict";

    var D = root.PiCloudDash;
    var $ = D.$;
    var VIEWS = ["overview", "chart", "devices", "topics", "live", "hub"];
    var EVERYTHING = {hub: true};  // what a key held to some topics may not see

    function route() {
        var hash = location.hash.replace(/^#/, "");
        var name = hash.split("?")[0] || "overview";
        if (VIEWS.indexOf(name) < 0 || (D.limited && EVERYTHING[name])) {
            name = "overview";
        }
        if (name === "chart") {
            D.chartRoute(hash.slice(hash.indexOf("?") + 1));
        }
        VIEWS.forEach(function (view) {
            $("view-" + view).hidden = view !== name;
        });
        Array.prototype.forEach.call(document.querySelectorAll("#tabs a"), function (a) {
            if (a.getAttribute("href") === "#" + name) {
                a.setAttribute("aria-current", "page");
            } else {
                a.removeAttribute("aria-current");
            }
        });
        D.show(name);
    }

    root.addEventListener("hashchange", route);
    D.on("session", function (what) {
        if (what === "started") {
            route();
        }
    });

    function themeChanged() {
        var dark = root.PiCloudTheme.dark();
        $("theme").title = dark ? "switch to the light theme" : "switch to the dark theme";
        $("theme").setAttribute("aria-pressed", dark ? "true" : "false");
        D.emit("theme", dark);
    }

    $("theme").addEventListener("click", function () {
        root.PiCloudTheme.toggle();
        themeChanged();
    });
    root.PiCloudTheme.onSystemChange(themeChanged);
    themeChanged();
    route();
    D.begin();
}(this));
