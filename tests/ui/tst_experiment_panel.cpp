// The experiment form: the default comparison, invalid values refused at the field with the
// reason (the option table's rules, as nmtrain applies them), recipes and seeds, the sweep
// (rows of swept options expanded as nmtrain --sweep expands them), live settings.
#include "ui_test_main.h"

#include "panels/config_field.h"
#include "panels/experiment_panel.h"
#include "panels/live_panel.h"
#include "panels/recipe_editor.h"

#include <QComboBox>
#include <QDir>
#include <QGroupBox>
#include <QLabel>
#include <QLineEdit>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTextDocumentFragment>
#include <QToolButton>

using namespace nmui;

namespace {

// Types into a line edit as a user does and leaves the field.
void typeInto(QLineEdit *edit, const QString &text)
{
    edit->setFocus();
    edit->selectAll();
    QTest::keyClicks(edit, text);
    QTest::keyClick(edit, Qt::Key_Return);
}

QLineEdit *lineEdit(ExperimentPanel &p, const char *key)
{
    return p.findChild<QLineEdit *>(QString::fromLatin1(key));
}

// Picks a sweep row's option as a user types it into the key box.
void setKey(SweepRow *row, const QString &key)
{
    row->keyBox()->setFocus();
    row->keyBox()->lineEdit()->selectAll();
    QTest::keyClicks(row->keyBox()->lineEdit(), key);
}

// A row's values as a typed list (no Return: the panel follows every keystroke).
void typeValues(SweepRow *row, const QString &values)
{
    row->valuesEdit()->setFocus();
    row->valuesEdit()->selectAll();
    QTest::keyClicks(row->valuesEdit(), values);
}

void typeRange(SweepRow *row, const QString &from, const QString &to, int count, bool log)
{
    row->modeBox()->setCurrentIndex(1);
    for (auto [edit, text] : {std::pair{row->fromEdit(), from}, std::pair{row->toEdit(), to}}) {
        edit->setFocus();
        edit->selectAll();
        QTest::keyClicks(edit, text);
    }
    row->countBox()->setValue(count);
    row->spacingBox()->setCurrentIndex(log ? 1 : 0);
}

QString plainRunCount(const ExperimentPanel &p)
{
    return QTextDocumentFragment::fromHtml(p.runCountText()).toPlainText();
}

std::vector<std::string> names(const std::vector<nm::RunConfig> &runs)
{
    std::vector<std::string> out;
    for (const auto &r : runs)
        out.push_back(r.name);
    return out;
}

bool labelShows(const QWidget &w, const QString &text)
{
    QCoreApplication::processEvents(); // a widget added to a shown layout shows from the event loop
    for (QLabel *l : w.findChildren<QLabel *>())
        if (l->isVisible() && l->text().contains(text))
            return true;
    return false;
}

} // namespace

class TestExperimentPanel : public QObject {
    Q_OBJECT
  private Q_SLOTS:
    void defaultComparison()
    {
        ExperimentPanel p;
        const auto runs = p.configs();
        QCOMPARE(runs.size(), size_t(3));
        QCOMPARE(runs[0].recipe, std::string("ste"));
        QCOMPARE(runs[1].recipe, std::string("srste"));
        QCOMPARE(runs[2].recipe, std::string("sste"));
        QCOMPARE(runs[1].name, std::string("SR-STE"));
        for (const auto &r : runs) {
            QCOMPARE(r.nm, std::string("2:4"));
            QCOMPARE(r.model, nm::ModelKind::Mlp);
            QCOMPARE(r.data, nm::DataSource::FashionMnist);
            QCOMPARE(r.seed, uint64_t(1));
        }
        QVERIFY(p.isValid());
    }

    void invalidValuesAreRefusedWithTheReason()
    {
        ExperimentPanel p;
        p.show();
        QLineEdit *lr = lineEdit(p, "lr");
        QVERIFY(lr);
        typeInto(lr, QStringLiteral("fast"));
        QVERIFY(!p.isValid());
        QCOMPARE(p.field("lr")->error(), QStringLiteral("lr: expected a number, got 'fast'"));
        QVERIFY(p.configs().empty());
        typeInto(lr, QStringLiteral("500"));
        QVERIFY(p.field("lr")->error().contains(QStringLiteral("out of range; allowed [0, 100]")));
        typeInto(lr, QStringLiteral("0.1"));
        QVERIFY(p.isValid());
        QCOMPARE(p.configs().front().lr, 0.1);

        typeInto(lineEdit(p, "nm"), QStringLiteral("4:2"));
        QVERIFY(p.field("nm")->error().startsWith(QStringLiteral("nm: 4:2 is out of range")));
        typeInto(lineEdit(p, "nm"), QStringLiteral("1:8"));
        QVERIFY(p.isValid());
        QCOMPARE(p.configs().front().nm, std::string("1:8"));

        typeInto(lineEdit(p, "mlp_hidden"), QStringLiteral("256,-3"));
        QVERIFY(p.field("mlp_hidden")->error().contains(QStringLiteral("mlp_hidden")));
        typeInto(lineEdit(p, "mlp_hidden"), QStringLiteral("128"));
        QVERIFY(p.isValid());
        // A cross-field rule lands on the field it names.
        typeInto(lineEdit(p, "steps"), QStringLiteral("100"));
        typeInto(lineEdit(p, "warmup"), QStringLiteral("500"));
        QVERIFY(!p.isValid());
        QVERIFY(p.field("warmup")->error().contains(QStringLiteral("warmup: 500 exceeds steps 100")));
        // The error line under the field says it too.
        bool shown = false;
        for (QLabel *l : p.findChildren<QLabel *>())
            shown = shown || (l->isVisible() && l->text().contains(QStringLiteral("exceeds steps")));
        QVERIFY(shown);
    }

    void recipesAndTheirDefaults()
    {
        ExperimentPanel p;
        RecipeEditor *sr = p.recipes()[1];
        QCOMPARE(sr->recipe(), QStringLiteral("srste"));
        QCOMPARE(sr->field("lambda")->text(), QStringLiteral("0.0002"));
        sr->setValue("lambda", QStringLiteral("-1"));
        QVERIFY(!sr->validate(QStringLiteral("mlp")));
        QVERIFY(sr->field("lambda")->error().contains(QStringLiteral("out of range")));
        sr->resetToDefaults();
        QVERIFY(sr->validate(QStringLiteral("mlp")));
        sr->setValue("lambda", QStringLiteral("0.001"));
        RecipeEditor *mdgf = p.addRecipe(QStringLiteral("mdgf-exp"));
        QCOMPARE(mdgf->field("mdgf_fraction")->text(), QStringLiteral("0.5"));
        auto runs = p.configs();
        QCOMPARE(runs.size(), size_t(4));
        QCOMPARE(runs[1].lambda, 0.001);
        QCOMPARE(runs[3].recipe, std::string("mdgf-exp"));
        p.removeRecipe(p.recipes()[0]);
        QCOMPARE(p.configs().size(), size_t(3));
        // A comparison keeps at least one recipe.
        while (p.recipes().size() > 1)
            p.removeRecipe(p.recipes()[0]);
        p.removeRecipe(p.recipes()[0]);
        QCOMPARE(p.recipes().size(), 1);
    }

    void seedsExpandIntoRuns()
    {
        ExperimentPanel p;
        p.setSeeds(QStringLiteral("1-3"));
        const auto runs = p.configs();
        QCOMPARE(runs.size(), size_t(9));
        QCOMPARE(runs[0].name, std::string("STE s1"));
        QCOMPARE(runs[2].seed, uint64_t(3));
        p.setSeeds(QStringLiteral("one"));
        QVERIFY(!p.isValid());
        QVERIFY(p.firstError().contains(QStringLiteral("seeds")));
    }

    void modelSwitchMovesDefaults()
    {
        ExperimentPanel p;
        p.setValue("model", QStringLiteral("gpt"));
        QCOMPARE(p.field("data")->text(), QStringLiteral("text"));
        QCOMPARE(p.field("optimizer")->text(), QStringLiteral("adamw"));
        QCOMPARE(p.field("steps")->text(), QStringLiteral("2000"));
        p.setValue("gpt_heads", QStringLiteral("3"));
        QVERIFY(!p.isValid());
        QVERIFY(p.field("gpt_heads")->error().contains(QStringLiteral("does not divide gpt_width")));
    }

    void vitShowsItsShapeAndTrainsOnFashionMnist()
    {
        ExperimentPanel p;
        p.show();
        p.setValue("model", QStringLiteral("vit"));
        QCOMPARE(p.field("data")->text(), QStringLiteral("fashion-mnist"));
        QCOMPARE(p.field("optimizer")->text(), QStringLiteral("adamw"));
        QCOMPARE(p.field("vit_patch")->text(), QStringLiteral("7"));
        QVERIFY(p.field("vit_width")->widget()->isVisible());
        QVERIFY(!p.field("mlp_hidden")->widget()->isVisible());
        QVERIFY(!p.field("gpt_width")->widget()->isVisible());
        QVERIFY(p.isValid());
        const auto configs = p.configs();
        QVERIFY(!configs.empty());
        QCOMPARE(configs.front().model, nm::ModelKind::Vit);
        p.setValue("vit_heads", QStringLiteral("3"));
        QVERIFY(!p.isValid());
        QVERIFY(p.field("vit_heads")->error().contains(QStringLiteral("does not divide vit_width")));
    }

    void stateRoundTrips()
    {
        ExperimentPanel a;
        a.setValue("lr", QStringLiteral("0.02"));
        a.addRecipe(QStringLiteral("asp"))->setValue("asp_prune_at", QStringLiteral("0.3"));
        a.setSeeds(QStringLiteral("4,5"));
        ExperimentPanel b;
        b.restoreState(a.state());
        const auto ra = a.configs(), rb = b.configs();
        QCOMPARE(rb.size(), ra.size());
        for (size_t i = 0; i < ra.size(); ++i)
            QCOMPARE(QString::fromStdString(nm::configToJson(rb[i])), QString::fromStdString(nm::configToJson(ra[i])));
    }

    void sweepRowsExpandAsNmtrainDoes()
    {
        ExperimentPanel p;
        p.show();
        p.setSeeds(QStringLiteral("1,2"));
        QCOMPARE(plainRunCount(p), QStringLiteral("No sweep: 3 recipes × 2 seeds = 6 runs"));
        SweepRow *lr = p.addSweepRow();
        QCOMPARE(lr->key(), QStringLiteral("lr"));
        QCOMPARE(lr->valuesEdit()->text(), QStringLiteral("0.05")); // starts at the form's value
        QCOMPARE(p.configs().size(), size_t(6));
        typeValues(lr, QStringLiteral("0.01, 0.1"));
        SweepRow *lambda = p.addSweepRow();
        setKey(lambda, QStringLiteral("lambda"));
        QCOMPARE(lambda->valuesEdit()->text(), QStringLiteral("0.0002")); // follows the new option
        typeValues(lambda, QStringLiteral("1e-4, 3e-4"));
        QCOMPARE(plainRunCount(p), QStringLiteral("3 recipes × 4 sweep points × 2 seeds = 24 runs"));
        const auto runs = p.configs();
        QVERIFY(p.isValid());
        QCOMPARE(runs.size(), size_t(24));
        // Points outermost (the first row's values outermost), then recipes, then seeds, named
        // as nmtrain --recipes ste,srste,sste --seeds 1,2 --sweep lr=0.01,0.1 --sweep lambda=1e-4,3e-4.
        const auto n = names(runs);
        QCOMPARE(n[0], std::string("ste_lr=0.01_lambda=1e-4_s1"));
        QCOMPARE(n[1], std::string("ste_lr=0.01_lambda=1e-4_s2"));
        QCOMPARE(n[2], std::string("srste_lr=0.01_lambda=1e-4_s1"));
        QCOMPARE(n[6], std::string("ste_lr=0.01_lambda=3e-4_s1"));
        QCOMPARE(n[23], std::string("sste_lr=0.1_lambda=3e-4_s2"));
        const std::vector<std::pair<std::string, std::string>> last = {{"lr", "0.1"}, {"lambda", "3e-4"}};
        QVERIFY(runs[23].sweep == last);
        QCOMPARE(runs[8].recipe, std::string("srste"));
        QCOMPARE(runs[8].lambda, 3e-4);
        QCOMPARE(runs[8].lr, 0.01);
        QCOMPARE(runs[8].seed, uint64_t(1));
        // The same grid as the core expands it for nmtrain.
        const std::map<std::string, std::string> flags = {{"sparse_layers", "all"}}; // the GUI's default
        const auto cli = nm::expandSweep("", "config", {{flags, {"ste", "srste", "sste"}}},
                                         {nm::parseSweep("lr=0.01,0.1"), nm::parseSweep("lambda=1e-4,3e-4")}, {1, 2});
        QVERIFY(names(cli) == n);
        for (size_t i = 0; i < cli.size(); ++i)
            QCOMPARE(QString::fromStdString(nm::configToJson(runs[i])),
                     QString::fromStdString(nm::configToJson(cli[i])));
        // A recipe twice in the form: the second one's runs get " 2".
        p.addRecipe(QStringLiteral("ste"))->setValue("lr", QStringLiteral("0.2"));
        const auto twice = names(p.configs());
        QCOMPARE(twice.size(), size_t(32));
        QCOMPARE(twice[6], std::string("ste_lr=0.01_lambda=1e-4_s1 2"));
    }

    void sweepRangesLinearAndLog()
    {
        QString why;
        QCOMPARE(sweepRange(1e-4, 1e-2, 3, true, false, &why),
                 (QStringList{QStringLiteral("0.0001"), QStringLiteral("0.001"), QStringLiteral("0.01")}));
        QCOMPARE(sweepRange(0.1, 0.5, 5, false, false, &why),
                 (QStringList{QStringLiteral("0.1"), QStringLiteral("0.2"), QStringLiteral("0.3"),
                              QStringLiteral("0.4"), QStringLiteral("0.5")}));
        QCOMPARE(
            sweepRange(100, 400, 4, false, true, &why),
            (QStringList{QStringLiteral("100"), QStringLiteral("200"), QStringLiteral("300"), QStringLiteral("400")}));
        QCOMPARE(sweepRange(64, 512, 4, true, true, &why), (QStringList{QStringLiteral("64"), QStringLiteral("128"),
                                                                        QStringLiteral("256"), QStringLiteral("512")}));
        QVERIFY(why.isEmpty());
        QVERIFY(sweepRange(0, 1, 3, true, false, &why).isEmpty());
        QVERIFY(why.contains(QStringLiteral("log spacing needs both ends above 0")));

        ExperimentPanel p;
        p.show();
        SweepRow *row = p.addSweepRow();
        typeRange(row, QStringLiteral("1e-4"), QStringLiteral("1e-2"), 3, true);
        auto runs = p.configs();
        QVERIFY(p.isValid());
        QCOMPARE(runs.size(), size_t(9));
        QCOMPARE(runs[0].name, std::string("ste_lr=0.0001_s1"));
        QCOMPARE(runs[1].name, std::string("srste_lr=0.0001_s1"));
        QCOMPARE(runs[0].lr, 1e-4);
        QCOMPARE(runs[3].lr, 1e-3);
        QCOMPARE(runs[6].lr, 1e-2);
        QCOMPARE(runs[6].name, std::string("ste_lr=0.01_s1"));
        QVERIFY(labelShows(p, QStringLiteral("0.0001, 0.001, 0.01"))); // the values under the row
        row->spacingBox()->setCurrentIndex(0);
        row->countBox()->setValue(5);
        runs = p.configs();
        QCOMPARE(runs.size(), size_t(15));
        QCOMPARE(runs[3].lr, 0.002575);
        QCOMPARE(runs[3].sweep.front().second, std::string("0.002575"));
        QCOMPARE(runs[14].lr, 0.01);
        // An integer option's range is whole numbers.
        setKey(row, QStringLiteral("batch"));
        typeRange(row, QStringLiteral("32"), QStringLiteral("256"), 4, true);
        runs = p.configs();
        QCOMPARE(runs.size(), size_t(12));
        QCOMPARE(runs[3].batch, 64);
        QCOMPARE(runs[3].name, std::string("ste_batch=64_s1"));
        // Log over 0 and a range over a choice are refused at the row.
        typeRange(row, QStringLiteral("0"), QStringLiteral("256"), 4, true);
        QVERIFY(!p.isValid());
        QVERIFY(row->error().contains(QStringLiteral("log spacing needs both ends above 0")));
        setKey(row, QStringLiteral("optimizer"));
        QVERIFY(row->error().contains(QStringLiteral("a range needs a number option")));
        row->modeBox()->setCurrentIndex(0);
        typeValues(row, QStringLiteral("sgd, adamw"));
        QVERIFY(p.isValid());
        QCOMPARE(p.configs().size(), size_t(6));
    }

    void badSweepKeysAndValuesShowTheCoreMessage()
    {
        ExperimentPanel p;
        p.show();
        SweepRow *row = p.addSweepRow();
        setKey(row, QStringLiteral("lamda"));
        typeValues(row, QStringLiteral("1e-4, 2e-4"));
        QVERIFY(!p.isValid());
        QVERIFY(row->error().startsWith(QStringLiteral("unknown option 'lamda' in --sweep; did you mean 'lambda'?")));
        QCOMPARE(p.firstError(), row->error());
        QVERIFY(p.configs().empty());
        QVERIFY(labelShows(p, QStringLiteral("did you mean 'lambda'")));
        QVERIFY(plainRunCount(p).contains(QStringLiteral("? sweep points")));
        QVERIFY(!plainRunCount(p).contains(QStringLiteral("=")));
        setKey(row, QStringLiteral("seed"));
        QVERIFY(row->error().contains(QStringLiteral("list seeds with --seeds")));
        setKey(row, QStringLiteral("lr"));
        typeValues(row, QStringLiteral("0.1, fast"));
        QCOMPARE(row->error(), QStringLiteral("--sweep (at lr=fast): lr: expected a number, got 'fast'"));
        QCOMPARE(p.firstError(), row->error());
        typeValues(row, QStringLiteral("0.1, 0.1"));
        QVERIFY(row->error().contains(QStringLiteral("'0.1' is listed twice")));
        row->valuesEdit()->clear();
        QVERIFY(row->error().contains(QStringLiteral("sweep lr: no values")));
        typeValues(row, QStringLiteral("0.1, 0.2"));
        QVERIFY(p.isValid());
        QVERIFY(row->error().isEmpty());
        QVERIFY(!labelShows(p, QStringLiteral("sweep lr")));
        // The same option in two rows.
        SweepRow *again = p.addSweepRow();
        setKey(again, QStringLiteral("lr"));
        QVERIFY(!p.isValid());
        QVERIFY(again->error().contains(QStringLiteral("lr is swept twice")));
        setKey(again, QStringLiteral("steps"));
        typeValues(again, QStringLiteral("100, 3000"));
        QVERIFY(p.isValid());
        // A rule between options fails at one point of the grid; the message names the point.
        setKey(again, QStringLiteral("warmup"));
        typeValues(again, QStringLiteral("10, 5000"));
        QVERIFY(!p.isValid());
        QVERIFY2(
            again->error().startsWith(QStringLiteral("--sweep (at lr=0.1, warmup=5000): warmup: 5000 exceeds steps")),
            qPrintable(again->error()));
        QCOMPARE(p.firstError(), again->error());
        typeValues(again, QStringLiteral("10, 50"));
        QVERIFY(p.isValid());
        QCOMPARE(p.configs().size(), size_t(12));
        // More runs than the GUI trains at once.
        typeRange(again, QStringLiteral("1"), QStringLiteral("500"), 500, false);
        QVERIFY(!p.isValid());
        QVERIFY2(p.firstError().startsWith(QStringLiteral("The sweep gives 3000 runs; the GUI trains at most 1000")),
                 qPrintable(p.firstError()));
        QVERIFY(plainRunCount(p).endsWith(QStringLiteral("= 3000 runs")));
    }

    void removingSweepRows()
    {
        ExperimentPanel p;
        p.show();
        SweepRow *nm = p.addSweepRow();
        setKey(nm, QStringLiteral("nm"));
        typeValues(nm, QStringLiteral("2:4, 1:8"));
        SweepRow *lr = p.addSweepRow();
        typeValues(lr, QStringLiteral("0.01, 0.02, 0.05"));
        QCOMPARE(p.configs().size(), size_t(18));
        QCOMPARE(p.configs()[0].name, std::string("ste_nm=2:4_lr=0.01_s1"));
        QTest::mouseClick(nm->removeButton(), Qt::LeftButton);
        QCOMPARE(p.sweepRows().size(), 1);
        auto runs = p.configs();
        QCOMPARE(runs.size(), size_t(9));
        QCOMPARE(runs[0].name, std::string("ste_lr=0.01_s1"));
        QCOMPARE(plainRunCount(p), QStringLiteral("3 recipes × 3 sweep points × 1 seed = 9 runs"));
        // A bad row removed leaves a valid experiment.
        SweepRow *bad = p.addSweepRow();
        setKey(bad, QStringLiteral("nope"));
        QVERIFY(!p.isValid());
        p.removeSweepRow(bad);
        QVERIFY(p.isValid());
        p.removeSweepRow(lr);
        runs = p.configs();
        QCOMPARE(runs.size(), size_t(3));
        QCOMPARE(runs[1].name, std::string("SR-STE"));
        QVERIFY(runs[1].sweep.empty());
        QCOMPARE(plainRunCount(p), QStringLiteral("No sweep: 3 recipes × 1 seed = 3 runs"));
    }

    void sweepRowsComeBackFromConfigsAndState()
    {
        ExperimentPanel a;
        a.setSeeds(QStringLiteral("1-2"));
        SweepRow *hidden = a.addSweepRow();
        setKey(hidden, QStringLiteral("mlp_hidden"));
        typeValues(hidden, QStringLiteral("128,128 | 64"));
        SweepRow *lambda = a.addSweepRow();
        setKey(lambda, QStringLiteral("lambda"));
        typeRange(lambda, QStringLiteral("1e-4"), QStringLiteral("1e-3"), 2, true);
        const auto runs = a.configs();
        QCOMPARE(runs.size(), size_t(24));
        QCOMPARE(runs[0].name, std::string("ste_mlp_hidden=128,128_lambda=0.0001_s1"));

        ExperimentPanel b;
        b.showConfigs(runs);
        QCOMPARE(b.recipes().size(), 3); // a swept λ is not another SR-STE
        QCOMPARE(b.sweepRows().size(), 2);
        QCOMPARE(b.sweepRows()[0]->key(), QStringLiteral("mlp_hidden"));
        QCOMPARE(b.sweepRows()[0]->valuesEdit()->text(), QStringLiteral("128,128 | 64"));
        QCOMPARE(b.sweepRows()[1]->valuesEdit()->text(), QStringLiteral("0.0001, 0.001"));
        QVERIFY(names(b.configs()) == names(runs));

        ExperimentPanel c;
        c.restoreState(a.state());
        QCOMPARE(c.sweepRows().size(), 2);
        QVERIFY(c.sweepRows()[1]->isRange());
        const auto rc = c.configs();
        QCOMPARE(rc.size(), runs.size());
        for (size_t i = 0; i < rc.size(); ++i)
            QCOMPARE(QString::fromStdString(nm::configToJson(rc[i])),
                     QString::fromStdString(nm::configToJson(runs[i])));
        // Configs without a sweep clear the rows.
        c.showConfigs({nm::defaultConfig()});
        QVERIFY(c.sweepRows().isEmpty());

        // NMSTUDIO_GRAB_DIR=DIR: the section as drawn, to look at.
        if (const QString dir = qEnvironmentVariable("NMSTUDIO_GRAB_DIR"); !dir.isEmpty()) {
            ExperimentPanel g;
            g.resize(g.sizeHint().width(), 1800);
            g.show();
            QGroupBox *box = nullptr;
            for (QGroupBox *gb : g.findChildren<QGroupBox *>())
                if (gb->title() == QStringLiteral("Sweep"))
                    box = gb;
            QVERIFY(box);
            QDir().mkpath(dir);
            QCoreApplication::processEvents();
            QVERIFY(box->grab().save(QDir(dir).filePath(QStringLiteral("sweep-no-rows.png"))));
            setKey(g.addSweepRow(), QStringLiteral("nm"));
            typeValues(g.sweepRows()[0], QStringLiteral("2:4, 1:8, 1:16"));
            typeRange(g.addSweepRow(), QStringLiteral("1e-4"), QStringLiteral("1e-2"), 5, true);
            setKey(g.addSweepRow(), QStringLiteral("lamda"));
            QCoreApplication::processEvents();
            QVERIFY(box->grab().save(QDir(dir).filePath(QStringLiteral("sweep-rows.png"))));
            QVERIFY(g.grab().save(QDir(dir).filePath(QStringLiteral("experiment-panel-sweep.png"))));
        }
    }

    void liveSettingsRefuseInvalidValues()
    {
        LivePanel live;
        QSignalSpy applied(&live, &LivePanel::applied);
        typeInto(live.lrEdit(), QStringLiteral("-0.1"));
        QCOMPARE(applied.count(), 0);
        QVERIFY(live.error().contains(QStringLiteral("lr:")));
        typeInto(live.lrEdit(), QStringLiteral("0.02"));
        QCOMPARE(applied.count(), 1);
        QCOMPARE(live.values().lr, 0.02);
        QVERIFY(live.error().isEmpty());
    }
};

NM_UI_TEST_MAIN(TestExperimentPanel)
#include "tst_experiment_panel.moc"
